package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimitOptions configures RateLimit. Its zero value sets no limits of
// its own but follows the servers: their cool-downs, the pace learned from
// their throttles, and the quotas they announce.
type RateLimitOptions struct {
	// Disabled leaves the layer out: RateLimit returns the transport below
	// as it is.
	Disabled bool
	// Limiter, when set, is one limiter shared by every request.
	Limiter *rate.Limiter
	// PerHost, when positive, gives each URL host a limiter of its own with
	// this rate and PerHostBurst (0 means 1).
	PerHost      rate.Limit
	PerHostBurst int
	// MaxHosts bounds the hosts kept in memory; past it, the least
	// recently used host's state is dropped (see DefaultMaxHosts). 0 means
	// DefaultMaxHosts.
	MaxHosts int
	// NoCoolDown turns off the server-driven cool-down: by default, once a
	// host's throttles are known to be the host's (see RateLimit), a 429 or
	// 503 with Retry-After makes every request to that host wait until then.
	NoCoolDown bool
	// MaxCoolDown caps a server-driven cool-down. 0 means DefaultMaxRetryAfter.
	MaxCoolDown time.Duration
	// NoPacing turns off the per-host pacing: by default, once a host's
	// throttles are known to be the host's (see RateLimit), its attempts
	// are spaced at a rate learned from its throttles, and a host that
	// announces its quota (see ParseQuota) is paced to spread it.
	NoPacing bool
	// NoThrottle turns off the adaptive throttle: by default, a host that
	// refuses (429, 503, 529) most of what it is sent, and is not paced, is
	// sent no more than three times what it accepted in the last second,
	// and the rest is rejected at once (see RateLimit).
	NoThrottle bool
}

// RateLimit returns a middleware that paces requests on the client's side,
// as o says. Placed inside Retry, every attempt is a request the server
// sees, and each takes one token from o.Limiter and from its host's
// limiter (o.PerHost).
//
// A throttle has a scope: a 429 answers one request, and the call it
// throttled waits what it was asked (Retry does that). The rest of the host
// is held back or paced only on evidence that the limit is the host's:
// among its last 50 answers of the last 10 s (10 at least), at least 3 throttles (429, or
// a 503 or 529 that named a wait) making at least a fifth of them, on two
// resources (method and path) or more, or on the one resource the host was
// asked for. Those reactions are then on trial: unless the throttled share
// of the next 12 answers falls below a fifth, they only slow calls (a
// server that throttles whatever the rate), and are dropped; the host's
// evidence is then ignored for 10 s, doubling to 5 min while trials keep
// failing. Each later cut of the pace is on trial in the same way. A host
// that stops throttling for 10 s goes back to having none.
//
// While they are engaged, a 429 or 503 with Retry-After makes every request
// to that host, from any goroutine, wait until then instead of adding to
// the overload (a cool-down, capped at o.MaxCoolDown), but for a call
// that cannot afford the wait while the host still accepts some of what it
// is sent (see below); and, unless
// o.NoPacing, the host's attempts are spaced at a rate cut to 0.7 of what
// was being sent (measured over the wait the server named, or a second) and
// grown back along a cubic curve while they succeed, as TCP CUBIC and the
// AWS SDKs' adaptive retry mode do. A host whose responses announce a quota
// (RateLimit and RateLimit-Policy, RateLimit-Remaining,
// X-RateLimit-Remaining: see ParseQuota) is paced to spread what remains
// over its window, whatever its throttles say. A host that did neither is
// never delayed. The pace never falls below the rate the host accepted in
// the last second: a host that sheds its excess is sent what it takes.
//
// A host that still accepts a share of what it is sent is never held back
// whole. A hold (a cool-down, or a turn in the pace) takes at most half the
// time an attempt had left before its deadline; an attempt that cannot
// afford it is sent anyway if the host accepted 3 answers or more in the
// last second, and fails at once otherwise. And a host that refuses most of
// what it is sent, and is not paced, is sent about three times what it
// accepted in the last second, the rest failing at once: the SRE book's
// client-side adaptive throttling, on trial (o.NoThrottle turns it off; the
// rule, and why, is written beside the code in accept.go). An attempt that fails at once is not sent, and
// its error is a *RejectedError, which matches ErrRejectedLocally (and
// context.DeadlineExceeded when the call's deadline was too near): Retry
// takes it for a refusal, and retries it when the wait fits the deadline.
//
// A wait that the context ends returns the context's error at once,
// without sending. Each wait is reported to the call's Trace (Trace.Paced).
//
// Options that limit nothing and follow no server (Disabled, or NoCoolDown
// and NoPacing without limiters) leave the chain as it is. It is safe for
// concurrent use. It panics on a negative MaxHosts or MaxCoolDown.
func RateLimit(o RateLimitOptions) Middleware { return rateLimitWith(o, hostView[hostState]{}, nil) }

// rateLimitWith is RateLimit keeping its hosts' state in shared (a chain's
// table), or in a table of its own when shared is nil.
func rateLimitWith(o RateLimitOptions, hosts hostView[hostState], chain *Trace) Middleware {
	if o.MaxHosts < 0 || o.MaxCoolDown < 0 {
		panic("transport: RateLimitOptions: negative MaxHosts or MaxCoolDown")
	}
	o.MaxHosts = cmp.Or(o.MaxHosts, DefaultMaxHosts)
	o.MaxCoolDown = cmp.Or(o.MaxCoolDown, DefaultMaxRetryAfter)
	o.PerHostBurst = max(o.PerHostBurst, 1)
	idle := o.Disabled || (o.Limiter == nil && o.PerHost <= 0 && o.NoCoolDown && o.NoPacing && o.NoThrottle)
	return func(next http.RoundTripper) http.RoundTripper {
		next = wrapped("RateLimit", next)
		if idle {
			return next
		}
		// The host table belongs to this transport: its state is shared by
		// all requests through it, and by nothing else.
		if hosts.lookup == nil {
			hosts = ownHosts[hostState](o.MaxHosts)
		}
		hosts.init = func(hs *hostState) {
			if o.PerHost > 0 {
				hs.limiter = rate.NewLimiter(o.PerHost, o.PerHostBurst)
			}
			hs.pacer.maxHold = o.MaxCoolDown
			hs.pacer.dones = &hs.scope.answers
		}
		return &rateTransport{next: next, o: o, seed: maphash.MakeSeed(), hosts: hosts, trace: chain, below: takerBelow(next, hosts.table)}
	}
}

type rateTransport struct {
	next  http.RoundTripper
	o     RateLimitOptions
	seed  maphash.Seed // for resourceOf
	hosts hostView[hostState]
	trace *Trace     // the client's own (ClientOptions.Trace); nil for none
	below entryTaker // next, when it takes the call's entry (see entryTaker)
}

// idle reports whether forgetting hs loses nothing: no cool-down running,
// no pace learned, no reactions.
func (hs *hostState) idle() bool {
	if hs.pacer.paced.Load() || hs.scope.engaged() || hs.accept.counted() {
		return false
	}
	until := hs.coolUntil.Load() // read the clock only for a host that cooled down
	return until == 0 || until < time.Now().UnixNano()
}

var _ http.RoundTripper = (*rateTransport)(nil)

type hostState struct {
	limiter   *rate.Limiter // nil without PerHost
	coolUntil atomic.Int64  // Unix nanoseconds; 0 for none
	pacer     pacer         // unused with NoPacing
	scope     scope         // whether the host's throttles are the host's
	accept    acceptance    // what the host accepts, while it refuses
}

// follows reports whether t follows the servers: their cool-downs, their
// pace or what they accept.
func (t *rateTransport) follows() bool { return !t.o.NoCoolDown || !t.o.NoPacing || !t.o.NoThrottle }

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTripEntry(req, nil)
}

func (t *rateTransport) sharedTable() any { return t.hosts.table }

func (t *rateTransport) roundTripEntry(req *http.Request, r hostRef) (*http.Response, error) {
	var hs *hostState
	if t.o.PerHost > 0 || t.follows() {
		host := hostOf(req)
		r = t.hosts.entry(host, r, t.below)
		hs = t.hosts.at(host, r)
	}
	counted, err := t.admit(req, hs)
	var sentAt time.Time
	if err == nil && !t.o.NoPacing {
		if counted { // past the host's hold: not paced either
			hs.pacer.sent()
		} else if sentAt, err = hs.pacer.start(req, t.trace); err != nil {
			if counted, err = t.unheld(req, hs, err); counted {
				hs.pacer.sent()
			}
		}
	}
	if err == nil && !counted && !t.o.NoThrottle && sentAt.IsZero() && hs.accept.counted() { // a paced host is sent its pace instead
		if counted, err = hs.accept.throttle(hostOf(req), time.Now(), 0); err != nil && !t.o.NoPacing {
			hs.pacer.unsent() // start counted it: it never goes, and is never answered
		}
	}
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	if sentAt.IsZero() && hs != nil && hs.scope.engaged() {
		sentAt = time.Now() // for the trial of the host's reactions
	}
	resp, err := passDown(t.next, t.below, req, r)
	if t.follows() {
		if refused := resp != nil && IsRefusal(resp.StatusCode); (refused || hs.accept.counted()) && (err == nil || req.Context().Err() == nil) {
			hs.accept.answer(resp != nil && !refused, refused, counted, hs.pacer.paced.Load() || hs.scope.engaged())
		}
		t.learn(req, hs, sentAt, resp)
	}
	return resp, err
}

// unheld decides for an attempt that cannot afford a host-wide hold (held,
// a *RejectedError for the deadline): if the host accepts a share of what
// it is sent, the attempt goes on under the throttle, counted as sent
// (counted); if not, or if the throttle turns it away, it fails at once.
func (t *rateTransport) unheld(req *http.Request, hs *hostState, held error) (counted bool, err error) {
	var rejected *RejectedError
	if t.o.NoThrottle || !errors.As(held, &rejected) || !rejected.Deadline {
		return false, held
	}
	if counted, err = hs.accept.throttle(hostOf(req), time.Now(), acceptMinForBypass); err != nil {
		return false, held
	}
	return counted, nil
}

// learn takes what a response says of its host's limit: whether its
// throttles are the host's (see scope), a cool-down, a throttle for the
// pacer, an announced quota.
func (t *rateTransport) learn(req *http.Request, hs *hostState, sentAt time.Time, resp *http.Response) {
	var named time.Duration // the wait the server named, capped at MaxCoolDown
	var now time.Time
	if resp != nil && IsRefusal(resp.StatusCode) {
		now = time.Now()
		d, _, over := askedWait(resp.Header, now, t.o.MaxCoolDown)
		named = d
		if over {
			named = t.o.MaxCoolDown
		}
	}
	throttled := isThrottle(resp, named)
	if !t.o.NoPacing {
		hs.pacer.answering(resp, throttled)
	}
	v := hs.scope.answer(resourceOf(t.seed, req), throttled, sentAt) // counts the answer: the pacer's dones too
	if v.ended {
		hs.coolUntil.Store(0)
		hs.pacer.forget()
	}
	if v.wide && named > 0 && !t.o.NoCoolDown {
		hs.extendCoolDown(now.Add(named).UnixNano())
	}
	if t.o.NoPacing {
		return
	}
	var floor float64 // what the host accepts: no cut goes below it
	if v.cut {
		floor = hs.accept.rate(time.Now())
	}
	if hold := hs.pacer.done(sentAt, resp, throttled, v.cut, named, floor); hold > 0 && !t.o.NoCoolDown {
		hs.extendCoolDown(time.Now().Add(min(hold, t.o.MaxCoolDown)).UnixNano())
	}
}

// admit waits out the host's cool-down, then takes the tokens, and reports
// each wait to the call's Trace. A call that cannot afford the cool-down
// goes on if the host accepts a share of what it is sent (see unheld):
// counted says so.
func (t *rateTransport) admit(req *http.Request, hs *hostState) (counted bool, err error) {
	ctx := req.Context()
	if hs != nil {
		var limit time.Time // the latest a hold may end; zero for no deadline
		for first := true; ; first = false {
			until := hs.coolUntil.Load()
			if until == 0 { // never cooled down: no need for the clock
				break
			}
			start := time.Now()
			end := time.Unix(0, until)
			wait := end.Sub(start)
			if wait <= 0 {
				break
			}
			if first {
				limit = holdLimit(ctx, start)
			}
			if !limit.IsZero() && end.After(limit) {
				held := &RejectedError{Host: hostOf(req), Kind: RejectCoolDown, Reason: "host cooling down for " + wait.Round(time.Millisecond).String(), Wait: wait, Deadline: true}
				if counted, err = t.unheld(req, hs, held); err != nil {
					return false, err
				}
				break
			}
			if err := sleep(ctx, wait); err != nil {
				return false, fmt.Errorf("transport: rate limit: %w", err)
			}
			pacedTo(ctx, t.trace, PacedEvent{Request: req, Wait: time.Since(start), Reason: PacedByCoolDown})
		}
	}
	if t.o.Limiter != nil {
		if err := take(req, t.o.Limiter, t.trace); err != nil {
			return false, err
		}
	}
	if hs != nil && hs.limiter != nil {
		return counted, take(req, hs.limiter, t.trace)
	}
	return counted, nil
}

// take takes a token from l, waiting for it under the request's context.
func take(req *http.Request, l *rate.Limiter, chain *Trace) error {
	if l.Allow() { // the common case: a token is ready
		return nil
	}
	ctx := req.Context()
	start := time.Now()
	err := l.Wait(ctx)
	switch {
	case err == nil:
		pacedTo(ctx, chain, PacedEvent{Request: req, Wait: time.Since(start), Reason: PacedByLimit})
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("transport: rate limit: %w", ctx.Err())
	default:
		if _, ok := ctx.Deadline(); ok { // rate: "would exceed context deadline"
			return fmt.Errorf("transport: rate limit: %w: %w", context.DeadlineExceeded, err)
		}
		return fmt.Errorf("transport: rate limit: %w", err)
	}
}

func (h *hostState) extendCoolDown(until int64) {
	for {
		cur := h.coolUntil.Load()
		if until <= cur || h.coolUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *rateTransport) CloseIdleConnections() { closeIdle(t.next) }
