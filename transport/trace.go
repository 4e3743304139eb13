package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Trace is a set of hooks that observe one call on its way through the
// chain, as httptrace.ClientTrace observes one request: Retry reports each
// retry, each limit that stopped one, and the end of the call; RateLimit
// reports each attempt it held back. Events go up only: a hook cannot
// change what the chain does. Any field may be nil.
//
// Attach a Trace to a call's context with WithTrace. Logging does, and so
// can any outer middleware (OpenTelemetry, metrics) or the caller itself.
// Hooks run on the goroutine of the call, synchronously: they must be quick
// and must not read or close a response body. A Trace that is shared by
// concurrent calls must be safe for concurrent use.
type Trace struct {
	// Retry is called before the wait for each retry.
	Retry func(RetryEvent)
	// GiveUp is called when a limit kept a retryable attempt from being
	// retried (see GiveUpReason); that attempt's outcome goes to the caller.
	GiveUp func(GiveUpEvent)
	// Paced is called when a layer held an attempt back on the client's
	// side before sending it, after the wait.
	Paced func(PacedEvent)
	// CallEnd is called once, when Retry returns the call's outcome.
	CallEnd func(CallEndEvent)
	// Resume is called when a response body that broke off was asked for
	// again from where it stopped (see RetryPolicy.NoResume), after the
	// answer; it runs on the goroutine reading the body.
	Resume func(ResumeEvent)
	// Hedge is called when Hedge sends a hedge, and when it returns the
	// response of a hedged call (Won). Under Hedge, the other hooks are
	// told of every attempt's retries, one at a time, and CallEnd once,
	// for the attempt that won, with the attempts of all.
	Hedge func(HedgeEvent)
}

type traceKey struct{}

// WithTrace returns a context that carries t, for the calls made with it.
// If ctx already carries a Trace, both see every event: t's hooks first,
// then the older ones. A nil t returns ctx.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, join(t, traceFrom(ctx)))
}

// traceFrom returns the Trace in ctx, or nil.
func traceFrom(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// join returns a Trace that calls a's hooks, then b's. It allocates only
// when both are set.
func join(a, b *Trace) *Trace {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &Trace{
		Retry:   both(a.Retry, b.Retry),
		GiveUp:  both(a.GiveUp, b.GiveUp),
		Paced:   both(a.Paced, b.Paced),
		CallEnd: both(a.CallEnd, b.CallEnd),
		Resume:  both(a.Resume, b.Resume),
		Hedge:   both(a.Hedge, b.Hedge),
	}
}

func both[E any](f, g func(E)) func(E) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(e E) { f(e); g(e) }
}

// The emitters are nil-safe, so that a layer calls them without checking.

func (t *Trace) retry(e RetryEvent) {
	if t != nil && t.Retry != nil {
		t.Retry(e)
	}
}

func (t *Trace) giveUp(e GiveUpEvent) {
	if t != nil && t.GiveUp != nil {
		t.GiveUp(e)
	}
}

// pacedTo tells the Trace of ctx, then chain (a client's own, given when
// the chain was built), of an attempt held back.
func pacedTo(ctx context.Context, chain *Trace, e PacedEvent) {
	traceFrom(ctx).paced(e)
	chain.paced(e)
}

func (t *Trace) paced(e PacedEvent) {
	if t != nil && t.Paced != nil {
		t.Paced(e)
	}
}

func (t *Trace) callEnd(e CallEndEvent) {
	if t != nil && t.CallEnd != nil {
		t.CallEnd(e)
	}
}

func (t *Trace) hedge(e HedgeEvent) {
	if t != nil && t.Hedge != nil {
		t.Hedge(e)
	}
}

func (t *Trace) resume(e ResumeEvent) {
	if t != nil && t.Resume != nil {
		t.Resume(e)
	}
}

// RetryEvent describes a retry about to happen.
type RetryEvent struct {
	// Request is the caller's request (the one Retry was given).
	Request *http.Request
	// Attempt is the attempt that failed and is about to be retried.
	Attempt Attempt
	// Wait is how long Retry waits before the next attempt.
	Wait time.Duration
	// FromRetryAfter reports whether Wait is the server's Retry-After
	// rather than the backoff.
	FromRetryAfter bool
}

// Reason is a short description of why the attempt failed: its status
// ("503 Service Unavailable") or its error.
func (e RetryEvent) Reason() string { return e.Attempt.reason() }

// GiveUpReason says which limit kept a retryable attempt from being retried.
type GiveUpReason int

// The limits that stop retries.
const (
	// GiveUpMaxRetries: RetryPolicy.MaxRetries were spent.
	GiveUpMaxRetries GiveUpReason = iota + 1
	// GiveUpBudget: the host's retry budget was empty (see RetryBudget).
	GiveUpBudget
	// GiveUpRetryAfter: the server asked for a wait above
	// RetryPolicy.MaxRetryAfter.
	GiveUpRetryAfter
	// GiveUpDeadline: the wait would end after the context's deadline.
	GiveUpDeadline
	// GiveUpNotReplayable: the request body cannot be sent again.
	GiveUpNotReplayable
	// GiveUpThrottled: the waits asked by 429s in this call would pass
	// RetryPolicy.MaxRetryAfter.
	GiveUpThrottled
)

// String describes the limit in a few words.
func (r GiveUpReason) String() string {
	switch r {
	case GiveUpMaxRetries:
		return "MaxRetries reached"
	case GiveUpBudget:
		return "retry budget exhausted"
	case GiveUpRetryAfter:
		return "Retry-After above MaxRetryAfter"
	case GiveUpDeadline:
		return "wait would end after the deadline"
	case GiveUpNotReplayable:
		return "request body cannot be replayed"
	case GiveUpThrottled:
		return "throttled for longer than MaxRetryAfter"
	}
	return fmt.Sprintf("GiveUpReason(%d)", int(r))
}

// GiveUpEvent describes a retryable attempt that a limit kept from being
// retried. Its outcome goes to the caller.
type GiveUpEvent struct {
	// Request is the caller's request (the one Retry was given).
	Request *http.Request
	Attempt Attempt
	// Reason is the limit that stopped the retry.
	Reason GiveUpReason
}

// PaceReason says why an attempt was held back before it was sent.
type PaceReason int

// Why RateLimit held an attempt back.
const (
	// PacedByCoolDown: the host asked every client to wait (a 429 or 503
	// with Retry-After).
	PacedByCoolDown PaceReason = iota + 1
	// PacedByLimit: a client-side limit (an x/time/rate limiter) had no
	// token ready.
	PacedByLimit
	// PacedByPacer: the host's adaptive pace, learned from its throttles or
	// announced in its quota fields, had no token ready.
	PacedByPacer
)

// String returns "cool-down", "limit" or "pace".
func (r PaceReason) String() string {
	switch r {
	case PacedByCoolDown:
		return "cool-down"
	case PacedByLimit:
		return "limit"
	case PacedByPacer:
		return "pace"
	}
	return fmt.Sprintf("PaceReason(%d)", int(r))
}

// PacedEvent describes an attempt that was held back on the client's side
// and then let through.
type PacedEvent struct {
	// Request is the attempt that waited.
	Request *http.Request
	// Wait is how long it waited.
	Wait time.Duration
	// Reason is what it waited for.
	Reason PaceReason
}

// CallEndEvent describes the end of a call through Retry.
type CallEndEvent struct {
	// Request is the caller's request.
	Request *http.Request
	// Attempts is how many attempts were sent (1 when none was retried).
	Attempts int
	// Response is what the call returns, or nil. Do not read its body.
	Response *http.Response
	// Err is what the call returns, or nil.
	Err error
	// Hedges is how many hedges Hedge sent beside the first attempt (0
	// when the call was not hedged); Won is the attempt whose outcome the
	// call returns (1 is the first), when Hedges > 0.
	Hedges, Won int
}

// ResumeEvent describes a request for the rest of a response body that
// broke off.
type ResumeEvent struct {
	// Request is the caller's request.
	Request *http.Request
	// Offset is how many bytes of the body the caller had read.
	Offset int64
	// Err is the error the body broke off with.
	Err error
	// Resumed reports whether the rest came, and the body goes on; if not,
	// the caller gets Err.
	Resumed bool
}

// RetryError is the error Retry returns when a call ends on an error: the
// last attempt's error, with how many attempts were made. errors.Is and
// errors.As reach the cause through Unwrap.
type RetryError struct {
	// Attempts is how many attempts were sent (1 when none was retried).
	Attempts int
	// Err is the last attempt's error, or the context's error when the
	// call's context ended during a wait (under Timeouts, the error that
	// matches ErrResponseTimeout).
	Err error

	ended bool // the call's context ended the call
}

// Error says how many attempts were made and what the last one ended with:
// "transport: after 4 attempts: EOF". A call that its context ended (the
// caller's deadline or cancellation, http.Client.Timeout, Timeouts) reads
// as that end alone ("context deadline exceeded"), as it would without
// Retry: the count is in Attempts. Under http.Client.Timeout, net/http
// may keep only the text of the error, which therefore claims no attempts
// that errors.As could not find.
func (e *RetryError) Error() string {
	switch {
	case e.ended:
		return e.Err.Error()
	case e.Attempts == 1:
		return "transport: after 1 attempt: " + e.Err.Error()
	}
	return fmt.Sprintf("transport: after %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *RetryError) Unwrap() error { return e.Err }

// Timeout reports whether the cause is a timeout, so that url.Error.Timeout
// and os.IsTimeout, which do not unwrap, still see one.
func (e *RetryError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// HedgeEvent is a hedge sent (Won false) or the attempt whose response the
// call returned (Won true, only when hedges were sent).
type HedgeEvent struct {
	Request *http.Request // the caller's
	// Attempt is the attempt's number: 1 is the first, 2 the first hedge.
	Attempt int
	// Host is where the attempt went.
	Host string
	// After is how long after the call's start the hedge was sent, or the
	// winner's response came.
	After time.Duration
	Won   bool
}
