package rtgrpc

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/transport"
)

// client is the state the interceptors of one ClientOptions share.
type client struct {
	o      ClientOptions
	budget *transport.Budget
}

func newClient(o ClientOptions) *client {
	o = o.withDefaults()
	return &client{o: o, budget: transport.NewBudget(o.Budget)}
}

// UnaryClientInterceptor returns an interceptor that retries unary calls
// by rtchain's contract, written for gRPC:
//
//   - A call that never left the client (no connection could be had, as
//     when the server's port refuses connections; grpc-go failed it before
//     it opened a stream) is retried whatever the method, when it ended
//     Unavailable, or DeadlineExceeded by the attempt's own timeout.
//   - Unavailable is retried if the method may be sent twice: its
//     descriptor says IDEMPOTENT or NO_SIDE_EFFECTS, it is the health
//     protocol's (grpc.health.v1.Health), o.Idempotent says so, or the call
//     carries an idempotency-key (o.IdempotencyKeys sets one). gRPC answers
//     Unavailable also when a connection broke after the request went out,
//     so the code alone does not say that the server did nothing.
//   - DeadlineExceeded is retried, under the same condition, only when the
//     attempt's own timeout (o.PerTryTimeout) fired: never the caller's
//     deadline.
//   - A refusal is retried whatever the method: ResourceExhausted (not
//     grpc-go's own, for a message too large), or Unavailable, Aborted or
//     ResourceExhausted with a grpc-retry-pushback-ms (an Aborted with a
//     pushback is rtgrpc's server saying that the key's first request is
//     running). A pushback is waited for, up to o.MaxPushback; a negative
//     or malformed one ends the call.
//   - Nothing else (InvalidArgument, NotFound, AlreadyExists,
//     PermissionDenied, Unauthenticated, FailedPrecondition, OutOfRange,
//     Unimplemented, Internal, DataLoss, Unknown, Canceled), unless
//     o.Retryable widens it.
//
// Waits are full-jitter backoff, end before the caller's deadline or not
// at all, and retries come out of a budget per target (a refusal that names
// its wait spends none). Retries carry grpc-previous-rpc-attempts. The
// interceptor learns the call's peer and trailer through call options:
// interceptors chained inside it must pass the call options on.
//
// A call's own options change these rules for it alone: WithMaxRetries,
// WithPerTryTimeout, WithRetryable and WithRepeatable, passed to the call
// or as the connection's grpc.WithDefaultCallOptions.
func UnaryClientInterceptor(o ClientOptions) grpc.UnaryClientInterceptor {
	c := newClient(o)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx = c.prepare(ctx)
		co := callOptionsOf(opts) // WithMaxRetries and its kin, if the caller passed any
		perTryTimeout := co.perTryTimeout(c.o)
		target := cc.Target()
		c.budget.Call(target)
		transparent := false
		for attempt := 1; ; attempt++ {
			c.attempted(method, attempt, transparent)
			actx, cancel := ctx, context.CancelFunc(func() {})
			// ownDeadline: the attempt's timeout ends before the caller's
			// deadline, so a DeadlineExceeded is the attempt's (the server
			// may notice it before this client does).
			ownDeadline := false
			if perTryTimeout > 0 {
				actx, cancel = context.WithTimeout(ctx, perTryTimeout)
				d, _ := actx.Deadline()
				parent, ok := ctx.Deadline()
				ownDeadline = !ok || d.Before(parent)
			}
			if attempt > 1 {
				actx = metadata.AppendToOutgoingContext(actx, "grpc-previous-rpc-attempts", strconv.Itoa(attempt-1))
			}
			a := attempts.Get().(*attemptOpts)
			a.opts = append(append(a.opts[:0], opts...), a.trailerOpt, a.peerOpt)
			err := invoker(actx, method, req, reply, cc, a.opts...)
			// grpc-go names the peer only once it has opened a stream on a
			// connection to it: without one, nothing of the call was sent.
			trailer, neverSent := a.trailer, a.peer.Addr == nil
			transparent = neverSent
			a.reset()
			perTry := ownDeadline && ctx.Err() == nil &&
				(errors.Is(actx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded)
			cancel()
			if err == nil {
				return nil
			}
			if !c.again(ctx, &co, method, target, attempt, status.Convert(err), trailer, perTry, neverSent || co.repeatable || c.mayRepeat(ctx, method)) {
				return err
			}
		}
	}
}

// attempted tells OnAttempt of an attempt.
func (c *client) attempted(method string, attempt int, transparent bool) {
	if c.o.OnAttempt != nil {
		c.o.OnAttempt(AttemptEvent{Method: method, Attempt: attempt, Transparent: transparent})
	}
}

// prepare adds the call's key when the options say so and it has none.
func (c *client) prepare(ctx context.Context) context.Context {
	if !c.o.IdempotencyKeys {
		return ctx
	}
	if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get(KeyMetadata)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, KeyMetadata, newToken())
}

// mayRepeat reports whether the call may be sent twice: it carries a key,
// or the method is idempotent. It is asked after a failure only, so that
// the success path reads no metadata.
func (c *client) mayRepeat(ctx context.Context, method string) bool {
	if knownIdempotent(method) || (c.o.Idempotent != nil && c.o.Idempotent(method)) {
		return true
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	return len(md.Get(KeyMetadata)) > 0
}

// attemptOpts are an attempt's call options: the caller's, one that asks
// for the trailer (a pushback is there), and one that asks for the peer
// (grpc-go names it only when the attempt opened a stream: without one, the
// call never left the client). They are pooled, so that the success path
// allocates nothing of its own.
type attemptOpts struct {
	trailer    metadata.MD
	peer       peer.Peer
	trailerOpt grpc.CallOption
	peerOpt    grpc.CallOption
	opts       []grpc.CallOption
}

var attempts = sync.Pool{New: func() any {
	a := &attemptOpts{}
	a.trailerOpt = grpc.Trailer(&a.trailer)
	a.peerOpt = grpc.Peer(&a.peer)
	return a
}}

// reset forgets the attempt's trailer, peer and the caller's options, and
// puts a back in the pool.
func (a *attemptOpts) reset() {
	a.trailer = nil
	a.peer = peer.Peer{}
	clear(a.opts)
	a.opts = a.opts[:0]
	attempts.Put(a)
}

// again decides whether the failed attempt is retried, tells the hooks, and
// waits; it reports false when the call ends with this attempt. co is what
// the call's own options ask.
func (c *client) again(ctx context.Context, co *callOptions, method, target string, attempt int, st *status.Status, trailer metadata.MD, perTry, mayRepeat bool) bool {
	v := c.classify(st, trailer, perTry, mayRepeat)
	if !v.retry && co.retryable != nil {
		if _, _, stop := pushback(trailer); !stop && co.retryable(st) {
			v.retry = mayRepeat // WithRetryable widens as ClientOptions.Retryable does
		}
	}
	if !v.retry || ctx.Err() != nil {
		return false
	}
	giveUp := func(r transport.GiveUpReason) bool {
		if c.o.OnGiveUp != nil {
			c.o.OnGiveUp(GiveUpEvent{Method: method, Attempt: attempt, Status: st, Reason: r})
		}
		return false
	}
	if attempt > co.retries(c.o) {
		return giveUp(transport.GiveUpMaxRetries)
	}
	wait := transport.FullJitter(c.o.BaseDelay, c.o.MaxDelay, attempt)
	if v.hasWait {
		if v.wait > c.o.MaxPushback {
			return giveUp(transport.GiveUpRetryAfter)
		}
		wait = v.wait
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		return giveUp(transport.GiveUpDeadline)
	}
	spends := !(v.refusal && v.hasWait)
	if spends && !c.budget.Retry(target) {
		return giveUp(transport.GiveUpBudget)
	}
	if c.o.OnRetry != nil {
		c.o.OnRetry(RetryEvent{Method: method, Attempt: attempt, Status: st, Wait: wait, FromPushback: v.hasWait})
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		if spends {
			c.budget.Refund(target)
		}
		return false
	case <-t.C:
		return true
	}
}
