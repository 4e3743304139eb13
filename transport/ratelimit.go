package transport

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimitOptions configures RateLimit. Its zero value limits nothing but
// still honours servers' cool-downs.
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
}

// RateLimit returns a middleware that paces requests on the client's side,
// as o says. Placed inside Retry, every attempt is a request the server
// sees, and each takes one token from o.Limiter and from its host's
// limiter (o.PerHost). When a response is a 429 or 503 with Retry-After,
// every request to that host, from any goroutine, waits until then instead
// of adding to the overload (a cool-down, capped at o.MaxCoolDown). A wait
// that the context ends, or that would pass its deadline, returns an error
// at once without sending (errors.Is(err, context.DeadlineExceeded) for the
// deadline). Each wait is reported to the call's Trace (Trace.Paced).
//
// Options that limit nothing and keep no cool-downs (Disabled, or
// NoCoolDown without limiters) leave the chain as it is. It is safe for
// concurrent use. It panics on a negative MaxHosts or MaxCoolDown.
func RateLimit(o RateLimitOptions) Middleware {
	if o.MaxHosts < 0 || o.MaxCoolDown < 0 {
		panic("transport: RateLimitOptions: negative MaxHosts or MaxCoolDown")
	}
	o.MaxHosts = orDefault(o.MaxHosts, DefaultMaxHosts)
	o.MaxCoolDown = orDefault(o.MaxCoolDown, DefaultMaxRetryAfter)
	o.PerHostBurst = max(o.PerHostBurst, 1)
	idle := o.Disabled || (o.Limiter == nil && o.PerHost <= 0 && o.NoCoolDown)
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
		}, func(hs *hostState) bool { return hs.coolUntil.Load() < time.Now().UnixNano() })}
	}
}

type rateTransport struct {
	next  http.RoundTripper
	o     RateLimitOptions
	hosts *hostTable[hostState]
	// cooled is set once any host has asked for a cool-down: until then,
	// without per-host limiters, no request needs its host's state.
	cooled atomic.Bool
}

var _ http.RoundTripper = (*rateTransport)(nil)

type hostState struct {
	limiter   *rate.Limiter // nil without PerHost
	coolUntil atomic.Int64  // Unix nanoseconds; 0 for none
}

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var hs *hostState
	if t.o.PerHost > 0 || t.cooled.Load() {
		hs = t.hosts.get(hostOf(req))
	}
	if err := t.admit(req, hs); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if !t.o.NoCoolDown && resp != nil &&
		(resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		now := time.Now()
		if d, ok, over := askedWait(resp.Header, now, t.o.MaxCoolDown); ok && d > 0 {
			if over {
				d = t.o.MaxCoolDown
			}
			if hs == nil {
				hs = t.hosts.get(hostOf(req))
			}
			hs.extendCoolDown(now.Add(d).UnixNano())
			t.cooled.Store(true)
		}
	}
	return resp, err
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
