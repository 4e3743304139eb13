package transport

import (
	"context"
	"fmt"
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
	// NoCoolDown turns off the server-driven cool-down: by default, a 429 or
	// 503 with Retry-After makes every request to that host wait until then.
	NoCoolDown bool
	// MaxCoolDown caps a server-driven cool-down. 0 means DefaultMaxRetryAfter.
	MaxCoolDown time.Duration
	// NoPacing turns off the per-host pacing: by default, once a host has
	// throttled (a 429, or a 503 with Retry-After), its attempts are spaced
	// at a rate learned from its throttles, and a host that announces its
	// quota (see ParseQuota) is paced to spread it.
	NoPacing bool
}

// RateLimit returns a middleware that paces requests on the client's side,
// as o says. Placed inside Retry, every attempt is a request the server
// sees, and each takes one token from o.Limiter and from its host's
// limiter (o.PerHost). When a response is a 429 or 503 with Retry-After,
// every request to that host, from any goroutine, waits until then instead
// of adding to the overload (a cool-down, capped at o.MaxCoolDown).
//
// Unless o.NoPacing, each host is also paced once it has said something of
// its limit: after its first throttle, its attempts are spaced at a rate
// cut to 0.7 of what was being sent and grown back along a cubic curve
// while they succeed (as TCP CUBIC and the AWS SDKs' adaptive retry mode
// do); a host whose responses announce a quota (RateLimit and
// RateLimit-Policy, RateLimit-Remaining, X-RateLimit-Remaining: see
// ParseQuota) is paced to spread what remains over its window instead. A
// host that never did either is never delayed.
//
// A wait that the context ends, or that would pass its deadline, returns
// an error at once without sending (errors.Is(err,
// context.DeadlineExceeded) for the deadline). Each wait is reported to the
// call's Trace (Trace.Paced).
//
// Options that limit nothing and follow no server (Disabled, or NoCoolDown
// and NoPacing without limiters) leave the chain as it is. It is safe for
// concurrent use. It panics on a negative MaxHosts or MaxCoolDown.
func RateLimit(o RateLimitOptions) Middleware {
	if o.MaxHosts < 0 || o.MaxCoolDown < 0 {
		panic("transport: RateLimitOptions: negative MaxHosts or MaxCoolDown")
	}
	o.MaxHosts = orDefault(o.MaxHosts, DefaultMaxHosts)
	o.MaxCoolDown = orDefault(o.MaxCoolDown, DefaultMaxRetryAfter)
	o.PerHostBurst = max(o.PerHostBurst, 1)
	idle := o.Disabled || (o.Limiter == nil && o.PerHost <= 0 && o.NoCoolDown && o.NoPacing)
	return func(next http.RoundTripper) http.RoundTripper {
		next = wrapped("RateLimit", next)
		if idle {
			return next
		}
		// The host table belongs to this transport: its state is shared by
		// all requests through it, and by nothing else.
		return &rateTransport{next: next, o: o, hosts: newHostTable(o.MaxHosts, func(hs *hostState) {
			if o.PerHost > 0 {
				hs.limiter = rate.NewLimiter(o.PerHost, o.PerHostBurst)
			}
		}, func(hs *hostState) bool { // no cool-down running, no pace learned
			return hs.coolUntil.Load() < time.Now().UnixNano() && !hs.pacer.paced.Load()
		})}
	}
}

type rateTransport struct {
	next  http.RoundTripper
	o     RateLimitOptions
	hosts *hostTable[hostState]
	// cooled is set once any host has asked for a cool-down: until then,
	// without per-host limiters or pacing, no request needs its host's
	// state.
	cooled atomic.Bool
}

var _ http.RoundTripper = (*rateTransport)(nil)

type hostState struct {
	limiter   *rate.Limiter // nil without PerHost
	coolUntil atomic.Int64  // Unix nanoseconds; 0 for none
	pacer     pacer         // unused with NoPacing
}

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var hs *hostState
	if t.o.PerHost > 0 || !t.o.NoPacing || t.cooled.Load() {
		hs = t.hosts.get(hostOf(req))
	}
	if err := t.admit(req, hs); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	var sentAt time.Time
	if !t.o.NoPacing {
		var err error
		if sentAt, err = hs.pacer.start(req); err != nil {
			closeRequestBody(req)
			return nil, err
		}
	}
	resp, err := t.next.RoundTrip(req)
	t.learn(req, hs, sentAt, resp)
	return resp, err
}

// learn takes what a response says of its host's limit: a cool-down, a
// throttle for the pacer, an announced quota.
func (t *rateTransport) learn(req *http.Request, hs *hostState, sentAt time.Time, resp *http.Response) {
	var throttled bool
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		now := time.Now()
		d, ok, over := askedWait(resp.Header, now, t.o.MaxCoolDown)
		throttled = ok && d > 0
		if throttled && !t.o.NoCoolDown {
			if over {
				d = t.o.MaxCoolDown
			}
			t.coolDown(req, hs, now.Add(d))
		}
	}
	if t.o.NoPacing {
		return
	}
	if hold := hs.pacer.done(sentAt, resp, throttled); hold > 0 && !t.o.NoCoolDown {
		t.coolDown(req, hs, time.Now().Add(min(hold, t.o.MaxCoolDown)))
	}
}

// coolDown holds every request to req's host until until.
func (t *rateTransport) coolDown(req *http.Request, hs *hostState, until time.Time) {
	if hs == nil {
		hs = t.hosts.get(hostOf(req))
	}
	hs.extendCoolDown(until.UnixNano())
	t.cooled.Store(true)
}

// admit waits out the host's cool-down, then takes the tokens, and reports
// each wait to the call's Trace.
func (t *rateTransport) admit(req *http.Request, hs *hostState) error {
	ctx := req.Context()
	if hs != nil {
		for {
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
			if !endsInTime(ctx, end) {
				return fmt.Errorf("transport: rate limit: host cooling down for %v: %w", wait.Round(time.Millisecond), context.DeadlineExceeded)
			}
			if err := sleep(ctx, wait); err != nil {
				return fmt.Errorf("transport: rate limit: %w", err)
			}
			traceFrom(ctx).paced(PacedEvent{Request: req, Wait: time.Since(start), Reason: PacedByCoolDown})
		}
	}
	if t.o.Limiter != nil {
		if err := take(req, t.o.Limiter); err != nil {
			return err
		}
	}
	if hs != nil && hs.limiter != nil {
		return take(req, hs.limiter)
	}
	return nil
}

// take takes a token from l, waiting for it under the request's context.
func take(req *http.Request, l *rate.Limiter) error {
	if l.Allow() { // the common case: a token is ready
		return nil
	}
	ctx := req.Context()
	start := time.Now()
	err := l.Wait(ctx)
	switch {
	case err == nil:
		traceFrom(ctx).paced(PacedEvent{Request: req, Wait: time.Since(start), Reason: PacedByLimit})
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
