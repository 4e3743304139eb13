package rtgrpc

import (
	"cmp"
	"fmt"
	"time"

	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/transport"
)

// The client's defaults, rtchain's transport.Retry's own.
const (
	DefaultMaxRetries  = transport.DefaultMaxRetries
	DefaultBaseDelay   = transport.DefaultBaseDelay
	DefaultMaxDelay    = transport.DefaultMaxDelay
	DefaultMaxPushback = transport.DefaultMaxRetryAfter
)

// ClientOptions configures the client interceptors. Its zero value means
// rtchain's defaults: 3 retries, full-jitter backoff from 100 ms capped at
// 5 s, grpc-retry-pushback-ms honoured up to 30 s, a retry budget of 10% of
// calls per target, no per-try timeout, no keys.
type ClientOptions struct {
	// MaxRetries is how many times a call may be retried. 0 means
	// DefaultMaxRetries; negative means none.
	MaxRetries int
	// BaseDelay and MaxDelay shape the full-jitter backoff. 0 means the
	// defaults.
	BaseDelay, MaxDelay time.Duration
	// MaxPushback is the longest grpc-retry-pushback-ms the server may ask
	// for; a longer one ends the call with the server's answer. 0 means
	// DefaultMaxPushback.
	MaxPushback time.Duration
	// PerTryTimeout bounds each attempt of a unary call; an attempt that
	// runs out is retried (DeadlineExceeded), within the caller's
	// deadline, if the method may be sent twice or the attempt never left
	// the client (it was still waiting for a connection). 0 means none.
	PerTryTimeout time.Duration
	// Budget bounds retries to a share of calls, per target (the
	// ClientConn's). Its zero value means transport's defaults.
	Budget transport.RetryBudget
	// Idempotent reports whether fullMethod ("/pkg.Service/Method") may be
	// sent twice, beside what is known of it: its descriptor's
	// idempotency_level option (IDEMPOTENT or NO_SIDE_EFFECTS), and the
	// health protocol's methods (grpc.health.v1.Health), which only read.
	// nil means those alone. A call that never left the client is sent
	// again whatever this says.
	Idempotent func(fullMethod string) bool
	// IdempotencyKeys puts an idempotency-key metadata entry on each call
	// that has none, the same on every attempt, so that any method may be
	// retried against a server that honours it (rtgrpc's server
	// interceptor).
	IdempotencyKeys bool
	// Retryable, when set, widens the codes retried: it is asked about an
	// attempt's status when the rules below say no. Method safety still
	// applies.
	Retryable func(*status.Status) bool
	// OnRetry, when set, is told of each retry before its wait.
	OnRetry func(RetryEvent)
	// OnGiveUp, when set, is told when a retryable failure is not retried
	// because a limit was reached (MaxRetries, the budget, a pushback over
	// MaxPushback, the caller's deadline), and which. A failure the rules
	// do not retry (an Unavailable to a method that may have acted) is no
	// give-up: it is returned without an event.
	OnGiveUp func(GiveUpEvent)
	// OnAttempt, when set, is told of each attempt as it starts, the first
	// included: for a count of attempts by type (rtotel's
	// RPC.AttemptStarted, grpc.client.attempt.started).
	OnAttempt func(AttemptEvent)
}

// AttemptEvent describes an attempt about to be made.
type AttemptEvent struct {
	Method string // "/pkg.Service/Method"
	// Attempt is its number, from 1.
	Attempt int
	// Transparent reports that the attempt before it never left the
	// client (grpc-go had no connection to send it on): gRPC calls its
	// retry transparent.
	Transparent bool
}

// RetryEvent describes a retry about to happen: the gRPC twin of
// transport.RetryEvent.
type RetryEvent struct {
	Method string // "/pkg.Service/Method"
	// Attempt is the attempt that failed, from 1.
	Attempt int
	// Status is what it failed with.
	Status *status.Status
	// Wait is how long the interceptor waits before the next attempt;
	// FromPushback reports that the server asked for it.
	Wait         time.Duration
	FromPushback bool
}

// GiveUpEvent describes a retryable failure that was not retried.
type GiveUpEvent struct {
	Method  string
	Attempt int
	Status  *status.Status
	Reason  transport.GiveUpReason
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.BaseDelay < 0 || o.MaxDelay < 0 || o.MaxPushback < 0 || o.PerTryTimeout < 0 {
		panic(fmt.Sprintf("rtgrpc: ClientOptions: negative duration: %+v", o))
	}
	o.MaxRetries = max(cmp.Or(o.MaxRetries, DefaultMaxRetries), 0) // negative means none
	o.BaseDelay = cmp.Or(o.BaseDelay, DefaultBaseDelay)
	o.MaxDelay = cmp.Or(o.MaxDelay, DefaultMaxDelay)
	o.MaxPushback = cmp.Or(o.MaxPushback, DefaultMaxPushback)
	return o
}
