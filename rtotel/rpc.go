package rtotel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rtchain/rtchain/transport"
)

// RPC records the retry events of an RPC client (rtgrpc's OnRetry and
// OnGiveUp) and what its server did (rtgrpc's OnReplay and OnOutcome, and
// the overload interceptor's OnShed) into the same instruments as HTTP's,
// with the rpc.system and rpc.method attributes of OpenTelemetry's RPC
// conventions in place of the HTTP ones. It takes plain values, so that
// rtotel does not depend on grpc: the glue is three lines (see
// docs/grpc.md). Its methods are safe for concurrent use.
type RPC struct {
	i      *Instrumentation
	system attribute.KeyValue
}

// RPC returns the recorder of an RPC system ("grpc").
func (i *Instrumentation) RPC(system string) RPC {
	return RPC{i: i, system: attribute.String("rpc.system", system)}
}

// Retry records a retry of method ("/pkg.Service/Method") after an attempt
// that ended with code (its name: "UNAVAILABLE"), before a wait of wait;
// fromPushback says that the server asked for the wait.
func (r RPC) Retry(ctx context.Context, method, code string, wait time.Duration, fromPushback bool) {
	attrs := metric.WithAttributes(r.system, attribute.String("rpc.method", method),
		attribute.String("rtchain.retry.reason", code), attribute.Bool("rtchain.retry.after", fromPushback))
	r.i.retries.Add(ctx, 1, attrs)
	r.i.retryWait.Record(ctx, wait.Seconds(), metric.WithAttributes(r.system, attribute.String("rpc.method", method)))
}

// AttemptStarted counts an attempt of method as it starts, the first
// included, in grpc.client.attempt.started with gRPC's attributes
// grpc.method and grpc.attempt_type: original for a call's first attempt,
// retry for an attempt after one that reached the server, and
// transparent_retry after one that never left the client. Use it as
// rtgrpc.ClientOptions.OnAttempt (see docs/grpc.md). rtgrpc retries above
// grpc-go, so grpc-go's own instrumentation counts each of these attempts
// as a call of its own; this counter says which were retries.
func (r RPC) AttemptStarted(ctx context.Context, method string, attempt int, transparent bool) {
	kind := "original"
	switch {
	case transparent:
		kind = "transparent_retry"
	case attempt > 1:
		kind = "retry"
	}
	r.i.grpcAttempts.Add(ctx, 1, metric.WithAttributes(r.system, attribute.String("grpc.method", method),
		attribute.String("grpc.attempt_type", kind)))
}

// GiveUp records a retryable failure of method that reason kept from being
// retried.
func (r RPC) GiveUp(ctx context.Context, method string, reason transport.GiveUpReason) {
	name := giveUpReasons[reason]
	if name == "" {
		name = "other"
	}
	r.i.giveUps.Add(ctx, 1, metric.WithAttributes(r.system, attribute.String("rpc.method", method),
		attribute.String("rtchain.give_up.reason", name)))
}

// Replayed records a stored answer that the server replayed to a duplicate
// call of method.
func (r RPC) Replayed(ctx context.Context, method string) {
	r.i.replays.Add(ctx, 1, metric.WithAttributes(r.system, attribute.String("rpc.method", method)))
}
