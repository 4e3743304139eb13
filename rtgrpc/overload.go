package rtgrpc

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/overload"
)

// PreviousAttemptsKey is the metadata entry in which a gRPC client's retry
// says how many attempts came before it (gRFC A6).
const PreviousAttemptsKey = "grpc-previous-rpc-attempts"

// OverloadOptions configures OverloadUnaryServerInterceptor. Its zero value
// needs no tuning: a Limiter of its own with overload's defaults, retries
// shed first, no hook.
type OverloadOptions struct {
	// Limiter admits the calls. nil means
	// overload.NewLimiter(overload.LimiterOptions{}). The same Limiter as
	// an overload.Middleware's puts HTTP and gRPC under one limit.
	Limiter *overload.Limiter
	// Priority ranks a call for shedding (overload.Critical for health
	// checks). nil means IsRetryCall's: overload.Sheddable for a retry,
	// overload.Normal otherwise.
	Priority func(ctx context.Context, fullMethod string) overload.Priority
	// OnShed, when set, is called after a call was refused: for metrics.
	// It must be safe for concurrent use.
	OnShed func(ctx context.Context, fullMethod string, e overload.ShedEvent)
}

// OverloadUnaryServerInterceptor is overload.Middleware for unary gRPC
// calls: a call is admitted up to a concurrency limit learned from the
// handlers' latency, a bounded excess waits for a slot (until its deadline
// or cancellation), and the rest is refused at once with ResourceExhausted
// and a grpc-retry-pushback-ms trailer (about the current latency, with
// jitter). A call whose deadline is nearer than it can be served in is
// refused the same way, without running. Retries (a grpc-previous-rpc-attempts
// above 0) are shed before first attempts.
//
// ResourceExhausted, not Unavailable: gRFC A6's retry policies usually
// list Unavailable, so that a plain gRPC client would retry every
// refusal, while they retry ResourceExhausted only where the service
// config says so, and then wait the pushback. rtchain's client
// (UnaryClientInterceptor) retries it for any method, after the pushback.
// A call whose caller left while it waited ends with its context's code
// (Canceled, DeadlineExceeded).
//
// Put it before UnaryServerInterceptor (grpc.ChainUnaryInterceptor's
// first), so that a refused call takes no idempotency key. A handler's
// panic gives its slot back and goes on.
func OverloadUnaryServerInterceptor(o OverloadOptions) grpc.UnaryServerInterceptor {
	l := o.Limiter
	if l == nil {
		l = overload.NewLimiter(overload.LimiterOptions{})
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p := overload.Normal
		if o.Priority != nil {
			p = o.Priority(ctx, info.FullMethod)
		} else if IsRetryCall(ctx) {
			p = overload.Sheddable
		}
		s, err := l.Acquire(ctx, p)
		if err != nil {
			return nil, shed(ctx, l, o, info.FullMethod, p, err)
		}
		defer func() {
			if v := recover(); v != nil {
				s.Cancel()
				panic(v)
			}
			s.Release(ctx.Err() != nil)
		}()
		return handler(ctx, req)
	}
}

// shed answers a refused call.
func shed(ctx context.Context, l *overload.Limiter, o OverloadOptions, method string, p overload.Priority, err error) error {
	wait := l.RetryAfter()
	_ = grpc.SetTrailer(ctx, metadata.Pairs(PushbackKey, strconv.FormatInt(max(1, wait.Milliseconds()), 10)))
	if o.OnShed != nil {
		o.OnShed(ctx, method, overload.ShedEvent{
			Priority: p, Err: err, Wait: wait,
			Limit: l.Limit(), InFlight: l.InFlight(), Queued: l.Queued(),
		})
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.ResourceExhausted, "rtgrpc: "+strings.TrimPrefix(err.Error(), "overload: "))
}

// IsRetryCall reports whether an incoming call is a gRPC client's retry: a
// grpc-previous-rpc-attempts metadata entry above 0 (gRFC A6).
func IsRetryCall(ctx context.Context) bool {
	vs := metadata.ValueFromIncomingContext(ctx, PreviousAttemptsKey)
	if len(vs) == 0 {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
	return err == nil && n > 0
}
