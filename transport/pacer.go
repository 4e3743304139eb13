package transport

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A pacer spaces the attempts to one host so that a client stops learning
// the host's limit by hitting it. It is off (rate 0) until the host first
// throttles (a 429, or a 503 with Retry-After) or announces a quota.
//
// Without a quota, the rate adapts as TCP CUBIC's window does, and as the
// AWS SDKs' adaptive retry mode paces: a throttle cuts it to β of the rate
// that was being sent, and it grows back along a cubic curve while requests
// succeed under load, flat near the rate that was cut and probing beyond it
// after. The largest burst the host took before its first throttle is kept
// as the pacer's burst, so that the tokens a host refills during a cool-down
// are used, but never more.
//
// With a quota (ParseQuota), the announced rate is followed instead, a
// little below it, and the bucket holds no more than the host says remains.
const (
	pacerBeta    = 0.7  // a throttle cuts the rate to β of what was sent
	pacerC       = 0.4  // the cubic's scale, in requests/s per s³ (the AWS SDKs')
	pacerMinRate = 0.5  // requests/s: the pacer never goes slower
	quotaMargin  = 0.97 // of an announced rate, so that timing jitter does not cross it
)

type pacer struct {
	// The common case, a host that never throttled nor announced a quota,
	// only counts, with atomics: no lock, no clock, and no pacerState.
	paced atomic.Bool  // the host throttled or announced a quota
	sends atomic.Int64 // attempts sent, in all
	// dones counts the attempts answered or failed, in all. It is the
	// scope's count of answers, so that an answer costs one atomic add for
	// both: RateLimit's set-up of a host points it there, before any use.
	dones   *atomic.Int64
	fails   atomic.Int64  // attempts that did not succeed, in all
	maxHold time.Duration // the longest an announced quota holds unrenewed (MaxCoolDown); 0 for no bound
	recent  sendRate      // what the host was sent in the last second, for a first cut
	st      lazy[pacerState]
}

// pacerState is the pace of a host that throttled or announced a quota.
type pacerState struct {
	mu     sync.Mutex
	rate   float64 // requests/s, once paced
	burst  float64
	tokens float64 // at `at`
	at     time.Time
	// waiting is how many attempts wait for a token: the host is under load.
	waiting int

	// The cubic: the rate was wMax when it was cut, at cutAt (in time under
	// load: idle spells push cutAt forward), and is back at wMax k seconds
	// later.
	wMax      float64
	cutAt     time.Time
	k         float64
	idleSince time.Time // when the host last had no backlog; zero while busy
	throttled bool      // the host throttled at least once

	// The window the send rate is measured over: since the last cut.
	markAt             time.Time
	markSends, markOKs int64
	quotaUntil         time.Time // while an announced quota is fresh, it sets the rate
	maxRemaining       float64
}

// sent counts an attempt that goes to the host now.
func (p *pacer) sent() { p.recent.sent(p.sends.Add(1)) }

// unsent takes back an attempt counted by sent that was not sent after all
// (the acceptance throttle turned it away), so that it never counts as in
// flight.
func (p *pacer) unsent() { p.sends.Add(-1) }

// inflight returns how many attempts were sent and are not done.
func (p *pacer) inflight() int64 { return p.sends.Load() - p.dones.Load() }

// paceSuccess reports whether an attempt's answer counts as a success: an
// answer below 500 that is no throttle.
func paceSuccess(resp *http.Response, throttled bool) bool {
	return resp != nil && !throttled && resp.StatusCode < 500
}

// answering counts an attempt that did not succeed, before its answer is
// counted in dones: the successes that window derives never run ahead.
func (p *pacer) answering(resp *http.Response, throttled bool) {
	if !paceSuccess(resp, throttled) {
		p.fails.Add(1)
	}
}

// done learns from the outcome of an attempt sent at sentAt: a throttle
// cuts the rate, a success under load lets it grow, an announced quota sets
// it. It returns how long the host asked every request to wait, when its
// quota is spent and it named no policy (a fixed window: nothing until the
// reset).
//
// throttled says resp was a throttle; cut, that the throttle may cut the
// rate (the host's throttles are the host's: see scope); named, the wait
// the server named, is the shortest window the rate is measured over;
// floor, the rate the host accepted in the last second, is the lowest a
// cut may go: a host that sheds its excess is sent what it takes.
func (p *pacer) done(sentAt time.Time, resp *http.Response, throttled, cut bool, named time.Duration, floor float64) (hold time.Duration) {
	success := paceSuccess(resp, throttled) // answering and dones counted it
	if resp != nil && hasQuotaFields(resp.Header) {
		if hold, ok := p.announced(resp.Header); ok {
			return hold
		}
	}
	if !cut && !p.paced.Load() {
		if throttled {
			p.opening(time.Now())
		}
		return 0 // the common case
	}
	now := time.Now()
	s := p.st.get()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case cut:
		p.cut(now, sentAt, named, floor)
	case success: // never a throttle
		p.grow(now)
	}
	return 0
}

// announced follows the quota that h announces for the host, if it does
// (ok), and returns its hold (see quota). It is apart from done, whose
// common case, a response that announces none, then never sets up a Quota.
func (p *pacer) announced(h http.Header) (hold time.Duration, ok bool) {
	now := time.Now()
	q, ok := ParseQuota(h, now)
	if !ok || !q.Source.scopedToHost() {
		return 0, false
	}
	s := p.st.get()
	s.mu.Lock()
	defer s.mu.Unlock()
	return p.quota(now, q), true
}

// refill adds the tokens earned since the state's at.
func (p *pacer) refill(now time.Time) {
	s := p.st.get() // s.mu is held
	if now.After(s.at) {
		if !s.at.IsZero() {
			s.tokens = min(s.burst, s.tokens+s.rate*now.Sub(s.at).Seconds())
		}
		s.at = now
	}
}

// minWindow is the shortest window a rate is measured over when the server
// named a wait: a shorter one measures nothing the server counts.
const minWindow = 100 * time.Millisecond

// opening opens the window that the host's first cut measures its send
// rate over (see window), at the first throttle of an episode: the host was
// never cut since it was last forgotten, and no window opened within
// scopeMaxAge, the age of the oldest throttle that counts as evidence.
func (p *pacer) opening(now time.Time) {
	s := p.st.get()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttled || (!s.markAt.IsZero() && now.Sub(s.markAt) < scopeMaxAge) {
		return
	}
	p.open(now)
}

// open opens a window at now, the answer of a throttle, that began up to a
// second before: it holds what the host was sent in that second (see
// sendRate), the herd the throttle came from, and never a long-lived
// client's whole history, which would measure hours of calls as one
// second's. The successes among them are taken at the host's share of
// successes. The state's mu is held.
func (p *pacer) open(now time.Time) {
	s := p.st.get()
	answered := p.dones.Load()
	oks := max(answered-p.fails.Load(), 0) // fails are counted first: never below 0 for long
	sends := p.sends.Load()
	recent, span := p.recent.lastSecond(now, sends)
	recent = min(recent, sends)
	okRecent := recent
	if answered > 0 {
		okRecent = min(recent*oks/answered, oks)
	}
	s.markAt = now.Add(-span)
	s.markSends, s.markOKs = sends-recent, oks-okRecent
}

// window returns the attempts sent and succeeded per second since the last
// cut (or the window's opening: see open), counting a window shorter than
// the wait the server named (or, when it named none, than a second) as that
// long: a herd sent in the first milliseconds is a rate of its size, not of
// thousands a second, and the server's own wait is the time scale of its
// limit.
func (p *pacer) window(now time.Time, named time.Duration) (sent, ok float64) {
	s := p.st.get() // s.mu is held
	dones := p.dones.Load()
	sends, oks := p.sends.Load(), dones-p.fails.Load()
	if s.markAt.IsZero() {
		p.open(now)
	}
	floor := time.Second
	if named > 0 {
		floor = max(min(named, floor), minWindow)
	}
	secs := max(now.Sub(s.markAt), floor).Seconds()
	sent, ok = float64(sends-s.markSends)/secs, float64(oks-s.markOKs)/secs
	s.markAt, s.markSends, s.markOKs = now, sends, oks
	return sent, ok
}

// cut answers a throttle of an attempt sent at sentAt. The other attempts
// of a herd that was already in flight when the rate was last cut say
// nothing new, and are ignored (so are attempts sent before the host was
// paced, whose sentAt is zero, once a cut was made).
func (p *pacer) cut(now, sentAt time.Time, named time.Duration, floor float64) {
	s := p.st.get() // s.mu is held
	if !s.cutAt.IsZero() && sentAt.Before(s.cutAt) {
		return
	}
	measured, okRate := p.window(now, named)
	// The rate that met the throttle: the pace, once there is one (a
	// window since the last cut can be too short to measure), or else what
	// was sent.
	base := measured
	if s.throttled {
		base = s.rate
	}
	base = max(base, pacerMinRate)
	okBurst := max(1, math.Floor(okRate))
	if !s.throttled {
		s.burst = okBurst
	} else {
		s.burst = max(1, min(s.burst, okBurst))
	}
	p.refill(now)
	s.rate = max(base*pacerBeta, floor, pacerMinRate)
	s.tokens = min(s.tokens, 0)
	s.wMax = base
	s.k = math.Cbrt(base * (1 - pacerBeta) / pacerC)
	s.cutAt, s.idleSince = now, time.Time{}
	s.throttled = true
	p.paced.Store(true)
}

// forget drops the pace learned from throttles, when the host's throttles
// turned out not to be the host's (see scope). A fresh announced quota
// still paces.
func (p *pacer) forget() {
	s := p.st.peek()
	if s == nil {
		return // never paced: nothing to forget
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttled = false
	s.cutAt, s.idleSince = time.Time{}, time.Time{}
	s.markAt = time.Time{}
	if s.quotaUntil.IsZero() {
		p.paced.Store(false)
		s.rate, s.tokens, s.burst = 0, 0, 0
	}
}

// grow moves the rate along the cubic after a success. It grows only under
// load (attempts waiting for tokens): an idle client learns nothing about
// the host, and its time idle does not count.
func (p *pacer) grow(now time.Time) {
	s := p.st.get() // s.mu is held
	if !s.throttled || now.Before(s.quotaUntil) {
		return
	}
	if s.waiting == 0 {
		if s.idleSince.IsZero() {
			s.idleSince = now
		}
		return
	}
	if !s.idleSince.IsZero() {
		s.cutAt = s.cutAt.Add(now.Sub(s.idleSince))
		s.idleSince = time.Time{}
	}
	t := now.Sub(s.cutAt).Seconds() - s.k
	s.rate = max(pacerC*t*t*t+s.wMax, pacerMinRate)
}

// quota follows what the host announced, and returns a hold for a spent
// quota without a policy.
func (p *pacer) quota(now time.Time, q Quota) (hold time.Duration) {
	s := p.st.get() // s.mu is held
	remaining := float64(q.Remaining)
	var rate float64
	switch {
	case q.Limit > 0 && q.Window > 0:
		rate = float64(q.Limit) / q.Window.Seconds()
	case q.Reset <= 0:
		return 0 // nothing to spread the quota over
	case q.Remaining == 0:
		return q.Reset // a fixed window, spent: nothing until it resets
	default:
		rate = remaining / q.Reset.Seconds()
	}
	p.refill(now)
	left := remaining - float64(p.inflight())
	if p.paced.Load() {
		s.tokens = min(s.tokens, left)
	} else {
		s.tokens = left
	}
	s.maxRemaining = max(s.maxRemaining, remaining)
	s.burst = max(1, s.maxRemaining)
	if q.Limit > 0 {
		s.burst = min(s.burst, float64(q.Limit))
	}
	s.rate = max(rate*quotaMargin, pacerMinRate)
	fresh := max(q.Reset, q.Window, time.Second)
	if p.maxHold > 0 {
		// A quota holds the host only as long as a cool-down may, unless
		// the server renews it: one answer announcing a reset in 3,000
		// years does not pace the host until then.
		fresh = min(fresh, p.maxHold)
	}
	s.quotaUntil = now.Add(fresh)
	p.paced.Store(true)
	return 0
}
