package transport

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxHosts bounds how many hosts RateLimit keeps state for.
const DefaultMaxHosts = 1024

// RateLimitOptions configures RateLimitWith. Its zero value limits nothing
// but still honours servers' cool-downs.
type RateLimitOptions struct {
	// Limiter, when set, is one limiter shared by every request.
	Limiter *rate.Limiter
	// PerHost, when positive, gives each URL host a limiter of its own with
	// this rate and PerHostBurst (0 means 1).
	PerHost      rate.Limit
	PerHostBurst int
	// MaxHosts bounds the hosts kept in memory; past it, the state of an
	// idle host is dropped. 0 means DefaultMaxHosts.
	MaxHosts int
	// NoCoolDown turns off the server-driven cool-down: by default, a 429 or
	// 503 with Retry-After makes every request to that host wait until then.
	NoCoolDown bool
	// MaxCoolDown caps a server-driven cool-down. 0 means DefaultMaxRetryAfter.
	MaxCoolDown time.Duration
}

// RateLimit returns a middleware that takes one token from l for each
// attempt (placed inside Retry, every attempt is a request the server sees),
// waiting for it under the request's context. When a response to a host is
// a 429 or 503 with Retry-After, every request to that host, from any
// goroutine, waits until then instead of adding to the overload. A wait that
// the context ends or that would pass its deadline returns an error at once,
// without sending. RateLimit panics if l is nil.
func RateLimit(l *rate.Limiter) Middleware {
	if l == nil {
		panic("transport: RateLimit: nil *rate.Limiter")
	}
	return RateLimitWith(RateLimitOptions{Limiter: l})
}

// RateLimitWith is RateLimit with per-host limits and cool-down options. It
// panics on a negative MaxHosts or MaxCoolDown.
func RateLimitWith(o RateLimitOptions) Middleware {
	if o.MaxHosts < 0 || o.MaxCoolDown < 0 {
		panic("transport: RateLimitOptions: negative MaxHosts or MaxCoolDown")
	}
	o.MaxHosts = orDefault(o.MaxHosts, DefaultMaxHosts)
	o.MaxCoolDown = orDefault(o.MaxCoolDown, DefaultMaxRetryAfter)
	o.PerHostBurst = max(o.PerHostBurst, 1)
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			panic("transport: RateLimit: nil RoundTripper")
		}
		// The host table belongs to this transport: its state is shared by
		// all requests through it, and by nothing else.
		return &rateTransport{next: next, o: o, hosts: newHostTable(o.MaxHosts, func() *hostState {
			hs := &hostState{}
			if o.PerHost > 0 {
				hs.limiter = rate.NewLimiter(o.PerHost, o.PerHostBurst)
			}
			return hs
		}, func(hs *hostState) bool { return hs.coolUntil.Load() < time.Now().UnixNano() })}
	}
}

type rateTransport struct {
	next  http.RoundTripper
	o     RateLimitOptions
	hosts *hostTable[hostState]
}

type hostState struct {
	limiter   *rate.Limiter // nil without PerHost
	coolUntil atomic.Int64  // Unix nanoseconds; 0 for none
}

func (t *rateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var hs *hostState
	if t.o.PerHost > 0 || !t.o.NoCoolDown {
		hs = t.hosts.get(hostOf(req))
	}
	resume := PausePerTryTimeout(ctx) // waiting here is not the network's fault
	err := t.admit(ctx, hs)
	resume()
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if hs != nil && !t.o.NoCoolDown && resp != nil &&
		(resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		now := time.Now()
		if d, ok := ParseRetryAfter(resp.Header, now); ok && d > 0 {
			hs.extendCoolDown(now.Add(min(d, t.o.MaxCoolDown)).UnixNano())
		}
	}
	return resp, err
}

// admit waits out the host's cool-down, then takes the tokens.
func (t *rateTransport) admit(ctx context.Context, hs *hostState) error {
	if hs != nil {
		for {
			until := hs.coolUntil.Load()
			if until == 0 { // never cooled down: no need for the clock
				break
			}
			wait := time.Until(time.Unix(0, until))
			if wait <= 0 {
				break
			}
			if deadline, ok := ctx.Deadline(); ok && deadline.Before(time.Unix(0, until)) {
				return fmt.Errorf("transport: rate limit: host cooling down for %v: %w", wait.Round(time.Millisecond), context.DeadlineExceeded)
			}
			if err := sleep(ctx, wait); err != nil {
				return fmt.Errorf("transport: rate limit: %w", err)
			}
		}
	}
	if t.o.Limiter != nil {
		if err := wait(ctx, t.o.Limiter); err != nil {
			return err
		}
	}
	if hs != nil && hs.limiter != nil {
		return wait(ctx, hs.limiter)
	}
	return nil
}

func wait(ctx context.Context, l *rate.Limiter) error {
	err := l.Wait(ctx)
	switch {
	case err == nil:
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
