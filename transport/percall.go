package transport

import (
	"context"
	"net/http"
	"time"
)

// Per-call control: a call's context can change, for that call alone, what
// Retry and Hedge do with it. Each With function returns a context that
// carries one more setting; they compose, and the last one of a kind wins.
// All of them sit in one value of the context, so that Retry looks once,
// and a call that sets nothing costs one lookup and no allocation.
//
// None of them lifts a limit that protects a server: a call's retries still
// come out of the host's retry budget, wait what the server asks (up to
// MaxRetryAfter), end before the context's deadline, and need a body that
// can be sent again.

type callKey struct{}

// callOptions is what a call's context asks of Retry and Hedge.
type callOptions struct {
	maxRetries    int           // when hasMaxRetries
	perTry        time.Duration // when hasPerTry; 0 for none
	classifier    Classifier    // nil for none
	hasMaxRetries bool
	hasPerTry     bool
	repeatable    bool
	noHedge       bool
}

// callFrom returns the options of ctx, or nil when it sets none.
func callFrom(ctx context.Context) *callOptions {
	o, _ := ctx.Value(callKey{}).(*callOptions)
	return o
}

// withCall returns ctx with a copy of its options that set changed.
func withCall(ctx context.Context, set func(*callOptions)) context.Context {
	var o callOptions
	if old := callFrom(ctx); old != nil {
		o = *old
	}
	set(&o)
	return context.WithValue(ctx, callKey{}, &o)
}

// retries returns the call's MaxRetries, or policy's when it sets none.
func (o *callOptions) retries(policy int) int {
	if o == nil || !o.hasMaxRetries {
		return policy
	}
	return o.maxRetries
}

// perTryTimeout returns the call's per-try timeout, or policy's when it
// sets none.
func (o *callOptions) perTryTimeout(policy time.Duration) time.Duration {
	if o == nil || !o.hasPerTry {
		return policy
	}
	return o.perTry
}

// WithMaxRetries returns a copy of ctx that bounds the retries of a call
// made with it to n, in place of RetryPolicy.MaxRetries: 0 sends the call
// once (and holds no event stream back, see RetryPolicy.EventStream), and n
// may be more than the policy's. Every retry still comes out of the host's
// retry budget, and 429s that name a wait of a second or more still do not
// count, as with the policy's. It panics if n is negative.
func WithMaxRetries(ctx context.Context, n int) context.Context {
	if n < 0 {
		panic("transport: WithMaxRetries: negative n")
	}
	return withCall(ctx, func(o *callOptions) { o.maxRetries, o.hasMaxRetries = n, true })
}

// WithPerTryTimeout returns a copy of ctx whose calls bound each attempt's
// time on the network by d, in place of RetryPolicy.PerTryTimeout (a longer
// one for a large upload, say); 0 means none for these calls. It panics if
// d is negative.
func WithPerTryTimeout(ctx context.Context, d time.Duration) context.Context {
	if d < 0 {
		panic("transport: WithPerTryTimeout: negative duration")
	}
	return withCall(ctx, func(o *callOptions) { o.perTry, o.hasPerTry = d, true })
}

// WithClassifier returns a copy of ctx whose calls are judged by c first:
// what it decides (RetryAttempt or StopRetrying) holds for the attempt, and
// when it returns Default, RetryPolicy.Check, RetryPolicy.Classifier and the
// built-in rules decide as they would without it. A retry it asks for is
// still bounded as any is (see Decision). A nil c removes a classifier set
// before.
func WithClassifier(ctx context.Context, c Classifier) context.Context {
	return withCall(ctx, func(o *callOptions) { o.classifier = c })
}

// WithRepeatable returns a copy of ctx whose calls may be sent again, and
// twice at once, whatever their method: the caller knows that a repeat has
// no effect of its own (a POST that searches, or one the server
// deduplicates by a field of its body). Retry then treats a POST or PATCH
// made with it as it treats an idempotent method or a request with an
// Idempotency-Key: retried also after a 500, 502, 504 or 408, or a
// connection cut after it was sent; Hedge may hedge it.
func WithRepeatable(ctx context.Context) context.Context {
	return withCall(ctx, func(o *callOptions) { o.repeatable = true })
}

// WithoutHedge returns a copy of ctx whose calls Hedge never hedges: one
// attempt at a time, as though hedging were off (a call that is expensive
// for the server, say). Retry still retries them.
func WithoutHedge(ctx context.Context) context.Context {
	return withCall(ctx, func(o *callOptions) { o.noHedge = true })
}

// mayRepeat reports whether req may be sent more than once: an idempotent
// method, an Idempotency-Key, or a context made with WithRepeatable.
func mayRepeat(req *http.Request) bool {
	if IsIdempotent(req.Method) || HasIdempotencyKey(req.Header) {
		return true
	}
	o := callFrom(req.Context())
	return o != nil && o.repeatable
}

// mayHedge reports whether Hedge may send req twice at once: it may be
// repeated (mayRepeat) and its context does not say WithoutHedge.
func mayHedge(req *http.Request) bool {
	if o := callFrom(req.Context()); o != nil && o.noHedge {
		return false
	}
	return mayRepeat(req)
}
