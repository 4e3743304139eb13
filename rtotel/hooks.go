package rtotel

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtchain/rtchain/transport"
)

// ResendCount returns a middleware that sets http.request.resend_count (1
// for the first retry, 2 for the next) on the span of each resent attempt,
// as OpenTelemetry's HTTP semantic conventions ask. Place it inside Retry,
// below otelhttp.NewTransport, whose client span it marks; the first
// attempt's span is left as it is.
func ResendCount() transport.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			panic("rtotel: ResendCount: nil RoundTripper")
		}
		return &resendTransport{next}
	}
}

type resendTransport struct{ next http.RoundTripper }

var _ http.RoundTripper = (*resendTransport)(nil)

func (t *resendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if n := transport.AttemptFromContext(ctx); n > 1 {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(attribute.Int("http.request.resend_count", n-1))
		}
	}
	return t.next.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *resendTransport) CloseIdleConnections() { closeIdle(t.next) }

// BreakerStateChange records a change of a host's circuit: a transition, and
// the host's current state. Use it as transport.BreakerOptions.OnStateChange
// (or call it from yours).
func (i *Instrumentation) BreakerStateChange(host string, from, to transport.BreakerState) {
	ctx := context.Background()
	i.transitions.Add(ctx, 1, metric.WithAttributes(serverAddress(host),
		attribute.String("rtchain.breaker.state", stateName(to)),
		attribute.String("rtchain.breaker.previous_state", stateName(from))))
	i.state.Record(ctx, int64(to), i.hosts.options(host)...)
}

// stateName is a state as an attribute value: closed, open, half_open.
func stateName(s transport.BreakerState) string {
	if s == transport.HalfOpen {
		return "half_open"
	}
	return s.String()
}

// Replayed counts a stored response that the idempotency middleware
// replayed to a duplicate request. Use it as idempotency.Options.OnReplay;
// IdempotencyOutcome, as OnOutcome, counts replays among every other
// outcome (rtchain.server.idempotency.requests).
func (i *Instrumentation) Replayed(r *http.Request) {
	i.replays.Add(r.Context(), 1)
}
