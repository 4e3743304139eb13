package overload

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/rtchain/rtchain/internal/adaptive"
)

// A Priority ranks a request for shedding: under overload, Sheddable goes
// first and Critical last.
type Priority int

const (
	// Sheddable requests (by default, a client's retries) are admitted
	// only while the limit keeps a tenth of itself free and nothing
	// waits; they never wait for a slot. Under overload they are refused
	// before any first attempt.
	Sheddable Priority = -1
	// Normal requests are admitted below the limit, or wait in the queue
	// for a slot.
	Normal Priority = 0
	// Critical requests (health checks, the route that lets an operator
	// in) pass the limit, up to LimiterOptions.MaxLimit in flight, and
	// never wait.
	Critical Priority = 1
)

// String returns "sheddable", "normal" or "critical" (a bounded label for
// metrics).
func (p Priority) String() string {
	switch {
	case p < Normal:
		return "sheddable"
	case p > Normal:
		return "critical"
	}
	return "normal"
}

// The errors of Acquire. A request whose context ends while it waits is
// refused with the context's error.
var (
	// ErrOverloaded: the limit is reached and the request may not wait
	// (the queue is full, or it is Sheddable or Critical).
	ErrOverloaded = errors.New("overload: over the concurrency limit")
	// ErrDeadline: the request's deadline is nearer than the time it
	// would take to serve it (the current latency, and the wait in the
	// queue): it is not started.
	ErrDeadline = errors.New("overload: deadline too near to be served in time")
)

// LimiterOptions configures a Limiter. Its zero value needs no tuning: a
// limit that starts at 20, learned between 1 and 1000 from latency with a
// tolerance of 1.5, and a queue as long as the limit.
type LimiterOptions struct {
	// InitialLimit is the limit before latency taught anything. 0 means
	// 20.
	InitialLimit int
	// MinLimit and MaxLimit bound the limit. MaxLimit also bounds what is
	// in flight with Critical requests. 0 means 1 and 1000.
	MinLimit, MaxLimit int
	// Tolerance is how many times its lowest latency the latency may be
	// before the limit is cut; it must be more than 1. 0 means 1.5.
	Tolerance float64
	// Queue is the most Normal requests that wait for a slot, first come
	// first served; each leaves when its context ends. 0 means as many
	// as the current limit (a wait of about one latency at most); a
	// negative Queue means none: the excess is refused at once.
	Queue int
}

// A Limiter admits requests up to a concurrency limit learned from their
// latency, queues a bounded excess, and refuses the rest. One Limiter may
// serve several front doors (overload.Middleware and rtgrpc's interceptor
// in one process): they then share its limit. Its methods are safe for
// concurrent use.
type Limiter struct {
	lim   *adaptive.Limit // the limit, and its queue
	max   int
	queue int // the queue's bound; 0 means the limit, -1 none
}

// NewLimiter returns a Limiter with o's settings. It panics with an
// "overload: ..." message if o is inconsistent.
func NewLimiter(o LimiterOptions) *Limiter {
	ao, err := adaptive.Options{
		InitialLimit: o.InitialLimit, MinLimit: o.MinLimit, MaxLimit: o.MaxLimit, Tolerance: o.Tolerance,
	}.Check()
	if err != nil {
		panic("overload: LimiterOptions: " + err.Error())
	}
	l := &Limiter{lim: adaptive.New(ao), max: ao.MaxLimit, queue: o.Queue}
	if o.Queue < 0 {
		l.queue = -1
	}
	return l
}

// A Slot is a request's admission: give it back with Release when the
// request ends, or with Cancel when it did not run. Only a Slot returned
// by Acquire may be given back, once.
type Slot struct {
	l      *Limiter
	start  time.Time
	waited time.Duration
}

// Waited returns how long the request waited for its slot.
func (s Slot) Waited() time.Duration { return s.waited }

// Release gives the slot back and teaches the limit the request's latency
// (from its admission); dropped reports a request that failed for lack of
// time (its caller left, its deadline passed), a sign of overload. It
// returns the latency.
func (s Slot) Release(dropped bool) time.Duration {
	rtt := time.Since(s.start)
	s.l.lim.Release(rtt, dropped) // and hands the slot to the first waiting
	return rtt
}

// Cancel gives the slot back and teaches the limit nothing: the request
// did not run, or its latency means nothing (it panicked).
func (s Slot) Cancel() { s.l.lim.Discard() }

// Acquire admits a request of priority p, or refuses it: with
// ErrOverloaded, ErrDeadline, or ctx's error if ctx ended while the
// request waited for a slot. A Normal request over the limit waits in the
// queue, unless its deadline (ctx's) is nearer than the queue's wait and
// the latency. It does not allocate unless the request waits.
func (l *Limiter) Acquire(ctx context.Context, p Priority) (Slot, error) {
	switch {
	case p > Normal:
		if l.lim.AcquireBelow(l.max) {
			return Slot{l: l, start: time.Now()}, nil
		}
		return Slot{}, ErrOverloaded
	case p < Normal:
		limit := l.lim.Limit()
		if l.lim.Waiting() == 0 && l.lim.AcquireBelow(limit-limit/10) {
			return Slot{l: l, start: time.Now()}, nil
		}
		return Slot{}, ErrOverloaded
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < l.lim.Latency() {
		return Slot{}, ErrDeadline
	}
	if l.lim.Waiting() == 0 && l.lim.Acquire() {
		return Slot{l: l, start: time.Now()}, nil
	}
	return l.wait(ctx)
}

// wait queues the request until a slot is handed to it or ctx ends.
func (l *Limiter) wait(ctx context.Context) (Slot, error) {
	arrived := time.Now()
	limit := l.lim.Limit()
	bound := l.queue
	if bound == 0 {
		bound = limit
	}
	if dl, ok := ctx.Deadline(); ok {
		// About queued/limit latencies to wait for a slot, then one to run.
		lat := l.lim.Latency()
		if dl.Sub(arrived) < lat+lat*time.Duration(l.lim.Waiting())/time.Duration(limit) {
			return Slot{}, ErrDeadline
		}
	}
	switch err := l.lim.Wait(ctx, time.Time{}, bound); {
	case errors.Is(err, adaptive.ErrQueueFull):
		return Slot{}, ErrOverloaded
	case err != nil:
		return Slot{}, err
	}
	now := time.Now()
	return Slot{l: l, start: now, waited: now.Sub(arrived)}, nil
}

// MinRetryAfter is the least RetryAfter answers.
const MinRetryAfter = 10 * time.Millisecond

// RetryAfter returns a wait to ask of a refused client: about the time for
// a slot to free (the current latency, and the queue's share of it), at
// least MinRetryAfter, times a random factor in [1, 2) so that the clients
// refused together do not come back together.
func (l *Limiter) RetryAfter() time.Duration {
	base := l.lim.Latency()
	base += base * time.Duration(l.lim.Waiting()) / time.Duration(max(1, l.lim.Limit()))
	base = max(base, MinRetryAfter)
	return base + rand.N(base)
}

// Limit returns the current limit.
func (l *Limiter) Limit() int { return l.lim.Limit() }

// InFlight returns the number of requests admitted and not yet given back.
func (l *Limiter) InFlight() int { return l.lim.InFlight() }

// Queued returns the number of requests waiting for a slot.
func (l *Limiter) Queued() int { return l.lim.Waiting() }

// Latency returns the mean latency the limit last learned from.
func (l *Limiter) Latency() time.Duration { return l.lim.Latency() }
