package rtotel

import (
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtchain/rtchain/transport"
)

// waitBuckets are the bounds, in seconds, of the wait histograms: from a
// millisecond's backoff to the 30 s cap on a server's Retry-After (the SDK's
// default buckets start at 5 s, where every wait would fall in the first).
var waitBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// ScopeName is the instrumentation scope of rtotel's meter.
const ScopeName = "github.com/rtchain/rtchain/rtotel"

// Options configures New.
type Options struct {
	// MeterProvider makes the meter. nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider makes the client spans of the otelhttp transport that
	// Client puts in its chain (rtotel makes no spans of its own). nil means
	// otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
}

// Instrumentation holds rtotel's instruments; its middleware and hooks
// record into them. It is safe for concurrent use.
type Instrumentation struct {
	mp           metric.MeterProvider
	tp           trace.TracerProvider
	attempts     metric.Int64Histogram
	retries      metric.Int64Counter
	retryWait    metric.Float64Histogram
	giveUps      metric.Int64Counter
	paced        metric.Int64Counter
	paceTime     metric.Float64Histogram
	transitions  metric.Int64Counter
	state        metric.Int64Gauge
	replays      metric.Int64Counter
	resumes      metric.Int64Counter
	hedges       metric.Int64Counter
	rejected     metric.Int64Counter
	grpcAttempts metric.Int64Counter
	// The server half's.
	idemRequests metric.Int64Counter
	shed         metric.Int64Counter
	hosts        hostAttrs
	server       serverAttrs
	meter        metric.Meter
	limits       transport.LimitStats // what the client's Limit gauges read
}

// New makes the instruments. It fails only if the MeterProvider refuses
// one of them.
func New(o Options) (*Instrumentation, error) {
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	tp := o.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(ScopeName)
	i := Instrumentation{mp: mp, tp: tp, server: newServerAttrs(), meter: m}
	var errs [16]error
	i.attempts, errs[0] = m.Int64Histogram("rtchain.client.call.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts per call through rtchain's Retry."),
		metric.WithExplicitBucketBoundaries(1, 2, 3, 4, 5, 8))
	i.retries, errs[1] = m.Int64Counter("rtchain.client.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Retries, by reason."))
	i.retryWait, errs[2] = m.Float64Histogram("rtchain.client.retry.wait", metric.WithUnit("s"),
		metric.WithDescription("The wait before each retry."),
		metric.WithExplicitBucketBoundaries(waitBuckets...))
	i.giveUps, errs[3] = m.Int64Counter("rtchain.client.give_ups", metric.WithUnit("{call}"),
		metric.WithDescription("Retryable attempts that a limit kept from being retried, by limit."))
	i.paced, errs[4] = m.Int64Counter("rtchain.client.paced", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts held back on the client's side before they were sent."))
	i.paceTime, errs[5] = m.Float64Histogram("rtchain.client.pace.duration", metric.WithUnit("s"),
		metric.WithDescription("How long attempts were held back on the client's side."),
		metric.WithExplicitBucketBoundaries(waitBuckets...))
	i.transitions, errs[6] = m.Int64Counter("rtchain.client.breaker.transitions", metric.WithUnit("{transition}"),
		metric.WithDescription("Changes of a host's circuit state."))
	i.state, errs[7] = m.Int64Gauge("rtchain.client.breaker.state", metric.WithUnit("{state}"),
		metric.WithDescription("A host's circuit: 0 closed, 1 open, 2 half-open."))
	i.replays, errs[8] = m.Int64Counter("rtchain.server.idempotency.replays", metric.WithUnit("{response}"),
		metric.WithDescription("Stored responses that the idempotency middleware replayed to a duplicate request."))
	i.resumes, errs[9] = m.Int64Counter("rtchain.client.resumes", metric.WithUnit("{resume}"),
		metric.WithDescription("Response bodies that broke off and were asked for again from where they stopped."))
	i.hedges, errs[10] = m.Int64Counter("rtchain.client.hedges", metric.WithUnit("{attempt}"),
		metric.WithDescription("Hedges sent (rtchain.hedge.won false), and hedged calls' winners (true; by_hedge when a hedge won)."))
	i.rejected, errs[11] = m.Int64Counter("rtchain.client.rejected", metric.WithUnit("{attempt}"),
		metric.WithDescription("Calls that ended with an attempt the client rejected itself, unsent, by reason."))
	i.idemRequests, errs[12] = m.Int64Counter("rtchain.server.idempotency.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests that the idempotency middleware covered, by outcome."))
	i.shed, errs[13] = m.Int64Counter("rtchain.server.overload.shed", metric.WithUnit("{request}"),
		metric.WithDescription("Requests that the overload middleware refused, by reason and priority."))
	errs[14] = i.observeLimits(m)
	i.grpcAttempts, errs[15] = m.Int64Counter("grpc.client.attempt.started", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts of gRPC calls through rtgrpc's retrying interceptors, by grpc.attempt_type."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return &i, nil
}
