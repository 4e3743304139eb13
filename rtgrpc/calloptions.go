package rtgrpc

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Per-call control, as grpc.CallOptions: passed to a call (or to
// grpc.WithDefaultCallOptions), they change for that call what the client
// interceptors do, as transport.WithMaxRetries and its kin do for an HTTP
// call. grpc-go ignores them (each embeds grpc.EmptyCallOption); the
// interceptors look for them among the call's options, which costs nothing
// when there are none. None lifts a limit that protects a server: each
// retry still comes out of the target's budget, waits its pushback (up to
// MaxPushback), and ends before the caller's deadline.

// WithMaxRetries bounds the retries of the call it is passed to by n, in
// place of ClientOptions.MaxRetries: 0 sends the call once, and n may be
// more than the options'. The last one passed wins. It panics if n is
// negative.
func WithMaxRetries(n int) grpc.CallOption {
	if n < 0 {
		panic("rtgrpc: WithMaxRetries: negative n")
	}
	return maxRetriesOption{n: n}
}

// WithPerTryTimeout bounds each attempt of the unary call it is passed to by
// d, in place of ClientOptions.PerTryTimeout; 0 means none for this call.
// Like the option, it does not apply to streams. It panics if d is negative.
func WithPerTryTimeout(d time.Duration) grpc.CallOption {
	if d < 0 {
		panic("rtgrpc: WithPerTryTimeout: negative duration")
	}
	return perTryOption{d: d}
}

// WithRetryable widens, for the call it is passed to, the codes retried, as
// ClientOptions.Retryable does for every call: f is asked about a failed
// attempt's status when the rules (and ClientOptions.Retryable) say no,
// unless the server's pushback said not to retry. Method safety still
// applies: only a call that may be sent twice (or that never left the
// client) is retried for it.
func WithRetryable(f func(*status.Status) bool) grpc.CallOption {
	return retryableOption{f: f}
}

// WithRepeatable says that the call it is passed to may be sent twice,
// whatever its method: the caller knows that a repeat has no effect of its
// own. The call is then retried as a method declared IDEMPOTENT is: also
// after Unavailable, and DeadlineExceeded by its own PerTryTimeout.
func WithRepeatable() grpc.CallOption { return repeatableOption{} }

type maxRetriesOption struct {
	grpc.EmptyCallOption
	n int
}

type perTryOption struct {
	grpc.EmptyCallOption
	d time.Duration
}

type retryableOption struct {
	grpc.EmptyCallOption
	f func(*status.Status) bool
}

type repeatableOption struct{ grpc.EmptyCallOption }

// callOptions is what a call's options ask of the interceptors.
type callOptions struct {
	maxRetries    int           // when hasMaxRetries
	perTry        time.Duration // when hasPerTry
	retryable     func(*status.Status) bool
	hasMaxRetries bool
	hasPerTry     bool
	repeatable    bool
}

// callOptionsOf reads the interceptors' options among opts.
func callOptionsOf(opts []grpc.CallOption) callOptions {
	var co callOptions
	for _, o := range opts {
		switch o := o.(type) {
		case maxRetriesOption:
			co.maxRetries, co.hasMaxRetries = o.n, true
		case perTryOption:
			co.perTry, co.hasPerTry = o.d, true
		case retryableOption:
			co.retryable = o.f
		case repeatableOption:
			co.repeatable = true
		}
	}
	return co
}

// retries returns the call's MaxRetries, or the options' when it sets none.
func (co *callOptions) retries(o ClientOptions) int {
	if co.hasMaxRetries {
		return co.maxRetries
	}
	return o.MaxRetries
}

// perTryTimeout returns the call's per-try timeout, or the options' when it
// sets none.
func (co *callOptions) perTryTimeout(o ClientOptions) time.Duration {
	if co.hasPerTry {
		return co.perTry
	}
	return o.PerTryTimeout
}
