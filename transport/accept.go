package transport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// A host that refuses a share of what it is sent (429, 503, 529) is still
// serving the rest: a server that sheds its excess keeps its capacity busy
// with what it admits. The client keeps it busy too, and sends it no more
// than it accepts, so that its refusals do not multiply into a storm of
// retries that costs the server, and the client's own machine, more than the
// work itself. The rule is the SRE book's client-side adaptive throttling
// ("Handling Overload"), scoped to a host, beside the scope rule of
// throttles (scope.go):
//
//   - Counting. From the first refusal on, the host's requests (attempts
//     that came to the throttle, sent or rejected) and accepted answers (any
//     answer but a refusal; a transport error is not accepted either) are
//     counted over the last acceptWindow, in acceptBuckets buckets. A host
//     that has not refused for a whole window, and is not held or paced, is
//     not counted at all: the common case costs one atomic load.
//   - Throttle. While the host is counted and not paced (a paced host is
//     sent its pace instead: see pacer), an attempt is rejected with
//     probability max(0, (requests − throttleK·accepts) / (requests + 1)):
//     the host is sent about throttleK times what it accepts, and some
//     attempts always go, so that the count follows the host as it
//     recovers. A rejected attempt fails at once with a *RejectedError
//     (ErrRejectedLocally), which Retry takes for a refusal: nothing was
//     sent, so it may be sent again after a backoff that fits its deadline.
//     Nothing is rejected while the window holds fewer than throttleMinSent
//     requests, so that a scattered refusal changes nothing, nor while the
//     host has been counted for less than throttleMinSpan: refusals are
//     answered at once and work takes time, so that a server that sheds
//     its excess answers the first requests of a burst with refusals before
//     any with its work, and a host that refuses each call once refuses a
//     burst of first attempts before it takes their retries. Nor is anything
//     rejected once the host accepted all of the last bucket's attempts (at
//     least throttleRecovered): it has recovered, and the window need not
//     forget the overload first.
//   - On trial. The throttle is right for a server whose refusals are its
//     excess: sent less, it accepts as much, so the share of what it is
//     sent that it accepts grows (to about 1/throttleK). A server that
//     refuses a share of what it is sent whatever the rate (a flaky one, or
//     one that throttles whatever the rate) accepts the same share however
//     little it is sent, and throttling it only fails calls that a retry
//     would have got through (the rule would throttle it to a trickle). So,
//     after throttling a host for a whole window, the share it accepted is
//     held against the share it accepted when the throttle began: unless
//     it grew by throttleTrialGain, the throttle is turned off for the host
//     for scopeHoldOff, doubling while trials keep failing up to
//     scopeMaxHoldOff, as scope does for host-wide reactions.
//   - throttleK = 3: enough that a server with room for a few requests at
//     once is kept busy (one with room for a single request can idle
//     between a refusal and the next attempt: a simulated server of 1 slot
//     took 70 a second with the throttle, 95 without; of 4 slots, 7% less;
//     of 6, as much), and at most two refusals per accepted request,
//     whatever the offered load and the retries. (The SRE book suggests 2; a host that
//     refuses every call's first attempt and takes its retry, as LLM APIs
//     and stores whose sessions fail over do, accepts exactly half, with a
//     refusal of each caller in flight on top: 2 would turn those retries
//     away.) A host that accepts a third or more of what it is sent is never
//     throttled; one that accepts a tenth (a server offered ten times its
//     capacity) is sent about three tenths of what its callers offer, and
//     the rest fails at once, none of it queued, or is retried when it fits.
//   - Holding. A host-wide hold (a cool-down, or a paced host's queue: see
//     RateLimit) makes an attempt wait only when the call can afford it: the
//     hold ends within half the time the attempt had left when it came
//     (holdLimit). One that cannot afford it is sent anyway, under the
//     throttle, if the host accepted at least acceptMinForBypass answers in
//     the window, and fails at once otherwise. A hold is right for a host
//     that takes nothing until it ends; for one that sheds its excess and
//     takes the rest (a 503 or 429 with Retry-After: 1 from a server that
//     frees a slot every few milliseconds), holding calls past their
//     deadlines turns the overload into an outage, and the attempts sent
//     past the hold soon show whether it is worth keeping (see scope's
//     trial).
const (
	acceptWindow    = time.Second
	acceptBuckets   = 10
	acceptBucket    = acceptWindow / acceptBuckets
	throttleK       = 3
	throttleMinSent = 20
	// throttleMinSpan is how long a host must have been counted before it
	// is throttled: refusals come back at once and work takes time.
	throttleMinSpan = int64(acceptWindow / 2)
	// throttleRecovered is how many attempts a host must have accepted,
	// and all it was sent, in the last bucket for the throttle to let go
	// at once, without waiting for the window to forget the overload.
	throttleRecovered = 5
	// throttleTrialGain is how much the share of what it is sent that a
	// host accepts must have grown after a window of the throttle.
	throttleTrialGain = 1.2
	// acceptMinForBypass is how many answers a host must have accepted in
	// the window for an attempt to go past its hold: fewer is a host that
	// takes (almost) nothing, which the hold is for.
	acceptMinForBypass = 3
	acceptWindowNano   = int64(acceptWindow)
)

// acceptance is one host's count of sent attempts and accepted answers
// over the last acceptWindow, kept while the host refuses.
type acceptance struct {
	counting atomic.Bool // a refusal within the window: the host is counted

	st lazy[acceptState] // from the first refusal
}

// acceptState is the count of a host that refused.
type acceptState struct {
	mu          sync.Mutex
	ring        [acceptBuckets]acceptCount
	newest      int64 // the newest bucket's number (Unix nanoseconds / acceptBucket)
	since       int64 // Unix nanoseconds: when counting began
	lastRefusal int64 // Unix nanoseconds

	// The throttle's trial: from trialAt (0 when it is not throttling),
	// the share of what it was sent that the host accepted then (before),
	// whether it passed; a failed trial turns the throttle off until
	// holdUntil, holdOff after.
	trialAt, holdUntil int64 // Unix nanoseconds
	before             float64
	passed             bool
	holdOff            time.Duration
}

type acceptCount struct{ requests, sent, accepted int32 }

// roll moves the ring to now's bucket, emptying the buckets it passes. Its
// state's mu is held.
func (a *acceptance) roll(now int64) {
	s := a.st.get() // s.mu is held
	b := now / int64(acceptBucket)
	if b <= s.newest {
		return
	}
	for i := s.newest + 1; i <= b && i <= s.newest+acceptBuckets; i++ {
		s.ring[i%acceptBuckets] = acceptCount{}
	}
	s.newest = b
}

// totals returns the window's requests (sent or rejected), sent attempts
// and accepted answers. Its state's mu is held and the ring rolled.
func (a *acceptance) totals() (requests, sent, accepted int) {
	s := a.st.get() // s.mu is held
	for _, c := range s.ring {
		requests += int(c.requests)
		sent += int(c.sent)
		accepted += int(c.accepted)
	}
	return requests, sent, accepted
}

// throttle reports whether an attempt may be sent to the host at now
// (rejected nil), and counts it as sent if so (counted). An attempt past a
// host-wide hold also needs the host to have accepted minAccepted answers
// in the window.
func (a *acceptance) throttle(host string, now time.Time, minAccepted int) (counted bool, rejected error) {
	if !a.counting.Load() {
		if minAccepted > 0 {
			return false, errNotCounted
		}
		return false, nil
	}
	s := a.st.get()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := now.UnixNano()
	a.roll(ns)
	requests, sent, accepted := a.totals()
	c := &s.ring[s.newest%acceptBuckets]
	c.requests++ // sent or not
	if accepted < minAccepted {
		return false, a.rejected(host, accepted, sent, ns)
	}
	if requests < throttleMinSent || ns-s.since < throttleMinSpan || ns < s.holdUntil {
		c.sent++
		return true, nil
	}
	// The SRE book's rule: reject with probability
	// max(0, (requests - K·accepts) / (requests + 1)).
	p := float64(requests-throttleK*accepted) / float64(requests+1)
	if last := s.ring[(s.newest-1)%acceptBuckets]; p > 0 && last.sent >= throttleRecovered && last.accepted >= last.sent {
		p = 0 // the host took all it was sent in the last bucket: it has recovered
	}
	if p <= 0 {
		s.trialAt, s.passed = 0, false // the host takes what it is sent
		c.sent++
		return true, nil
	}
	share := float64(accepted) / float64(max(sent, 1)) // of what was sent
	switch {
	case s.trialAt == 0:
		s.trialAt, s.before = ns, share
	case !s.passed && ns-s.trialAt >= acceptWindowNano:
		if share < throttleTrialGain*s.before {
			// Sending less did not raise the share it accepts: the host
			// refuses a share whatever the rate, and the throttle only
			// fails calls that a retry would have got through.
			s.holdOff = min(max(2*s.holdOff, scopeHoldOff), scopeMaxHoldOff)
			s.holdUntil = ns + int64(s.holdOff)
			s.trialAt = 0
			c.sent++
			return true, nil
		}
		s.passed, s.holdOff = true, 0
	}
	if rand.Float64() < p {
		return false, a.rejected(host, accepted, sent, ns)
	}
	c.sent++
	return true, nil
}

// rejected is the error of an attempt the throttle turned away: what the
// host accepted of what it was sent, over how long. Its state's mu is held.
func (a *acceptance) rejected(host string, accepted, sent int, now int64) error {
	return &RejectedError{Host: host, Kind: RejectThrottle, Reason: fmt.Sprintf("host accepted %d of %d attempts in the last %v", accepted, sent, a.span(now))}
}

// errNotCounted turns away an attempt past a host-wide hold of a host that
// is not counted: nothing says that it accepts a share.
var errNotCounted = errors.New("transport: host not counted")

// rate returns the answers the host accepted per second over the window (or
// since it was first counted, when that is shorter, but at least a
// bucket's time); 0 when it is not counted.
func (a *acceptance) rate(now time.Time) float64 {
	if !a.counting.Load() {
		return 0
	}
	s := a.st.get()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := now.UnixNano()
	a.roll(ns)
	_, _, accepted := a.totals()
	return float64(accepted) / max(a.span(ns), acceptBucket).Seconds()
}

// span is how long the host has been counted, up to the window.
func (a *acceptance) span(now int64) time.Duration {
	s := a.st.get() // s.mu is held
	return min(time.Duration(now-s.since), acceptWindow).Round(time.Millisecond)
}

// answer counts an attempt's answer: accepted, refused (a refusal), or
// neither (a transport error). counted says the attempt was counted as sent
// by throttle; one that was not (sent before the host was counted, or
// paced) is counted now. Only a refusal starts the count; held says the
// host is held or paced, and keeps it counted: what a paced host accepts is
// what lets a call that cannot afford its pace go past it.
func (a *acceptance) answer(accepted, refused, counted, held bool) {
	if !refused && !a.counting.Load() {
		return // the common case
	}
	ns := time.Now().UnixNano()
	s := a.st.get()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !a.counting.Load() {
		s.ring = [acceptBuckets]acceptCount{}
		s.newest, s.since = ns/int64(acceptBucket), ns
		s.trialAt, s.passed = 0, false
		a.counting.Store(true)
		counted = false
	}
	a.roll(ns)
	c := &s.ring[s.newest%acceptBuckets]
	if !counted {
		c.requests++
		c.sent++
	}
	switch {
	case refused:
		s.lastRefusal = ns
	case !accepted:
	case ns-s.lastRefusal > acceptWindowNano && !held:
		a.counting.Store(false) // no refusal for a whole window
		return
	default:
		c.accepted++
	}
}

// counted reports whether the host is counted: it refused within the
// window, or is held. A host that is not loses nothing when forgotten.
func (a *acceptance) counted() bool { return a.counting.Load() }
