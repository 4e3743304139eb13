package transport

import (
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A throttle has a scope. A 429 answers one request: the throttled call
// waits what it was asked (Retry does that), and nothing else changes. The
// rest of the host is held back (a cool-down) or paced only on evidence
// that the limit is the host's, because real APIs scope their limits: S3's
// SlowDown per prefix, GitHub's secondary limits per endpoint, lock
// contention per object, LLM quotas per model. The rule, per host:
//
//   - Evidence. Among the host's last scopeWindow answers (at least
//     scopeMinAnswers of them), no older than scopeMaxAge, at least
//     scopeMinThrottles were throttles (429, or a 503 or 529 that named a
//     wait), they were at least scopeMinShare of those answers, and they
//     fell on two resources (method and path) or more, or
//     every one of those answers was for the one resource throttled (the
//     host's whole traffic is that resource, so pacing the host paces
//     nothing else). A throttled share that small, or one resource
//     throttled among others that are served, is the resource's limit, not
//     the host's.
//   - Trial. Host-wide reactions that do not reduce throttles only slow the
//     calls: each cut of the pace (the first when they are engaged) is on
//     trial, and makes no further cut nor cool-down, until scopeTrial
//     answers to attempts sent after it are in. If their throttled share is below
//     scopeMinShare, the share that engages the reactions, the trial passed
//     and the next throttle cuts again, as the pacer's curve asks. If it is
//     not (a server that throttles whatever the rate), the reactions are
//     dropped and the host's evidence is ignored for a hold-off:
//     scopeHoldOff, doubled at each trial failed in a row, up to
//     scopeMaxHoldOff. A limit far below the rate that met it (under about
//     half of it) fails the trial too: the calls then wait what each was
//     asked, as for a scoped throttle, until the hold-off ends.
//   - End. A host that has not throttled for scopeMaxAge goes back to
//     having no host-wide reactions.
//
// An announced quota (ParseQuota) is evidence by itself, and the pacer
// follows it whatever this rule says (see pacer.quota).
const (
	scopeWindow       = 50
	scopeMinAnswers   = 10
	scopeMinThrottles = 3
	scopeMinShare     = 0.2
	scopeMaxAge       = 10 * time.Second
	scopeTrial        = 12
	scopeHoldOff      = 10 * time.Second
	scopeMaxHoldOff   = 5 * time.Minute
)

// isThrottle reports whether resp throttled its request: a 429, or a 503 or
// 529 that named a wait (named > 0). A 503 that names none is a failure,
// for the breaker, not a throttle.
func isThrottle(resp *http.Response, named time.Duration) bool {
	return resp != nil && (resp.StatusCode == http.StatusTooManyRequests || (named > 0 && IsRefusal(resp.StatusCode)))
}

// resourceOf names what a request asks for, as a hash of its method and
// path: the unit a server's limit may be scoped to. The query is left out,
// so that a resource is never split too finely.
func resourceOf(seed maphash.Seed, req *http.Request) uint64 {
	var path string
	if req.URL != nil {
		path = req.URL.Path
	}
	h := maphash.String(seed, path)
	if req.Method != "" && req.Method != http.MethodGet {
		h = h*31 ^ maphash.String(seed, req.Method)
	}
	return h
}

// scope is one host's state under the rule above. Its common case, a host
// that never throttled, costs two atomic loads and an add per answer, and
// a store when the resource asked for changes.
type scope struct {
	answers   atomic.Int64  // answers seen, in all: the index of the latest, and the pacer's dones
	lastRes   atomic.Uint64 // the resource of the latest answer
	changedAt atomic.Int64  // the index of the answer at which lastRes last changed
	wide      atomic.Bool   // host-wide reactions are engaged

	st lazy[scopeState] // from the first throttle
}

// scopeState is the record of a host that throttled.
type scopeState struct {
	mu        sync.Mutex
	marks     [scopeWindow]throttleMark // the latest throttles, a ring
	next      int                       // where the next mark goes
	since     time.Time                 // the last cut: the engagement, or a throttle after a trial passed
	tried     int                       // answers to attempts sent since
	failed    int                       // throttles among them
	lastAt    time.Time                 // the latest throttle
	holdOff   time.Duration             // the last hold-off; 0 once a trial passed
	holdUntil time.Time                 // evidence is ignored until then
}

type throttleMark struct {
	index int64 // the answer's index
	res   uint64
	at    time.Time
}

// verdict is what scope.answer decided for one answer.
type verdict struct {
	wide  bool // host-wide reactions apply: its wait may hold the host
	cut   bool // the pacer may cut its rate for it: the engagement, or a trial passed
	ended bool // the reactions were dropped, or ended, by it
}

// engaged reports whether host-wide reactions are engaged.
func (s *scope) engaged() bool { return s.wide.Load() }

// answer counts an answer to res and judges the host's throttles by it.
// throttled says it was a throttle; sentAt, when the host was engaged, is
// when its attempt was sent (zero otherwise).
func (s *scope) answer(res uint64, throttled bool, sentAt time.Time) verdict {
	index := s.answers.Add(1)
	if s.lastRes.Load() != res {
		s.lastRes.Store(res)
		s.changedAt.Store(index)
	}
	if !throttled && !s.wide.Load() {
		return verdict{} // the common case
	}
	now := time.Now()
	c := s.st.get()
	c.mu.Lock()
	defer c.mu.Unlock()
	if throttled {
		s.mark(index, res, now)
	}
	if !s.wide.Load() {
		if now.Before(c.holdUntil) || !s.evidence(index, res, now) {
			return verdict{}
		}
		s.wide.Store(true)
		c.since, c.tried, c.failed = now, 0, 0
		return verdict{wide: true, cut: true}
	}
	if !throttled && now.Sub(c.lastAt) > scopeMaxAge {
		s.wide.Store(false) // quiet for long: the limit is gone
		return verdict{ended: true}
	}
	if sentAt.IsZero() || sentAt.Before(c.since) {
		// Sent before the last cut: says nothing of it, and its wait
		// was the herd's.
		return verdict{wide: c.tried >= scopeTrial}
	}
	c.tried++
	if throttled {
		c.failed++
	}
	switch {
	case c.tried < scopeTrial:
		// Too soon to judge the last cut. Its throttles hold nobody
		// else: they are what the trial measures.
		return verdict{}
	case s.share() >= scopeMinShare:
		// The reactions did not reduce the throttles: they only slow
		// calls.
		s.wide.Store(false)
		c.holdOff = min(max(2*c.holdOff, scopeHoldOff), scopeMaxHoldOff)
		c.holdUntil = now.Add(c.holdOff)
		return verdict{ended: true}
	case throttled:
		c.holdOff = 0 // the trial passed; this throttle starts the next
		c.since, c.tried, c.failed = now, 0, 0
		return verdict{wide: true, cut: true}
	}
	c.holdOff = 0
	return verdict{wide: true}
}

// share is the throttled share of the answers to attempts sent since the
// last cut.
func (s *scope) share() float64 {
	c := s.st.get() // c.mu is held
	return float64(c.failed) / float64(c.tried)
}

// mark records a throttle of the answer at index.
func (s *scope) mark(index int64, res uint64, now time.Time) {
	c := s.st.get() // c.mu is held
	c.marks[c.next] = throttleMark{index: index, res: res, at: now}
	c.next = (c.next + 1) % scopeWindow
	c.lastAt = now
}

// evidence reports whether the throttles among the answers up to index
// are the host's (the rule above).
func (s *scope) evidence(index int64, res uint64, now time.Time) bool {
	c := s.st.get()                   // c.mu is held
	from := max(index-scopeWindow, 0) // the window is the answers after from
	var n int
	distinct := false
	for _, m := range c.marks {
		if m.index <= from || m.index > index || now.Sub(m.at) > scopeMaxAge {
			continue
		}
		n++
		distinct = distinct || m.res != res
	}
	if index-from < scopeMinAnswers || n < scopeMinThrottles || float64(n) < scopeMinShare*float64(index-from) {
		return false
	}
	oneResource := s.changedAt.Load() <= from+1 && s.lastRes.Load() == res
	return distinct || oneResource
}
