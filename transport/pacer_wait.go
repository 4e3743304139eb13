package transport

import (
	"fmt"
	"net/http"
	"time"
)

// How an attempt to a paced host waits for its token.

// maxPacerSleep bounds one sleep of an attempt waiting for its token, so
// that a rate that grows while it waits is seen soon.
const maxPacerSleep = 250 * time.Millisecond

// start counts an attempt and, on a paced host, makes it wait for a token
// under ctx: never past holdLimit, half the time it had left before ctx's
// deadline (a *RejectedError at once, matching context.DeadlineExceeded,
// nothing sent), and reported to the call's Trace. It returns when the
// attempt is sent, zero on a host that is not paced.
func (p *pacer) start(req *http.Request, chain *Trace) (sentAt time.Time, err error) {
	if !p.paced.Load() {
		p.sent()
		return time.Time{}, nil
	}
	ctx := req.Context()
	start := time.Now()
	limit := holdLimit(ctx, start)
	now := start
	for queued := false; ; {
		wait, ok := p.take(now, limit, queued)
		switch {
		case !ok:
			return now, &RejectedError{Host: hostOf(req), Kind: RejectPace, Reason: "host paced, next send in " + wait.Round(time.Millisecond).String(), Wait: wait, Deadline: true}
		case wait == 0:
			if now.After(start) {
				pacedTo(ctx, chain, PacedEvent{Request: req, Wait: now.Sub(start), Reason: PacedByPacer})
			}
			p.sent()
			return now, nil
		}
		queued = true
		if err := sleep(ctx, min(wait, maxPacerSleep)); err != nil {
			s := p.st.get()
			s.mu.Lock()
			s.waiting--
			s.mu.Unlock()
			return now, fmt.Errorf("transport: rate limit: %w", err)
		}
		now = time.Now()
	}
}

// take takes a token at now if there is one (wait 0), or says how long to
// wait for one: an attempt that joins the queue (queued false) waits behind
// those already in it. If the wait would end after limit (when not zero:
// see holdLimit), it gives up (ok false) and leaves the queue.
func (p *pacer) take(now, limit time.Time, queued bool) (wait time.Duration, ok bool) {
	s := p.st.get()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.quotaUntil.IsZero() && now.After(s.quotaUntil) {
		s.quotaUntil = time.Time{}
		if !s.throttled { // the quota is stale, and the host never throttled
			p.paced.Store(false)
		}
	}
	if !p.paced.Load() {
		if queued {
			s.waiting--
		}
		return 0, true
	}
	p.refill(now)
	if s.tokens >= 1 {
		s.tokens--
		if queued {
			s.waiting--
		}
		return 0, true
	}
	ahead := 0.0
	if !queued {
		ahead = float64(s.waiting)
		s.waiting++
	}
	wait = time.Duration((ahead + 1 - s.tokens) / s.rate * float64(time.Second))
	if !limit.IsZero() && now.Add(wait).After(limit) {
		s.waiting--
		return wait, false
	}
	return max(wait, time.Millisecond), true
}
