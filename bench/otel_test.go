package bench

import (
	"context"
	"net/http"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/rtotel"
	"github.com/rtchain/rtchain/transport"
)

// instrumented returns rtotel's Client over base: NewClient's chain with
// otelhttp inside Retry and rtotel's metrics, recording into SDK providers
// that keep everything in memory (a span per attempt, sampled, never
// exported).
func instrumented(b *testing.B, base http.RoundTripper) http.RoundTripper {
	b.Helper()
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	inst, err := rtotel.New(rtotel.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	return inst.Client(transport.ClientOptions{Base: base, Timeout: -1}).Transport
}

// metricsOnly returns rtotel's Instrumentation recording into an SDK
// provider that keeps the metrics in memory, without spans.
func metricsOnly(b *testing.B) *rtotel.Instrumentation {
	b.Helper()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	inst, err := rtotel.New(rtotel.Options{MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	return inst
}

// callsOnly is the default chain under rtotel's Calls alone: rtotel's own
// cost, without the otelhttp spans.
func callsOnly(b *testing.B, base http.RoundTripper) http.RoundTripper {
	return metricsOnly(b).Calls()(transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: -1}).Transport)
}

// clientTrace is the default chain with rtotel's Trace as the client's
// own (ClientOptions.Trace): the same events and metrics as callsOnly,
// without the copy of each request that carries a Trace in its context.
func clientTrace(b *testing.B, base http.RoundTripper) http.RoundTripper {
	return transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: -1, Trace: metricsOnly(b).Trace()}).Transport
}

// BenchmarkInstrumented is the default chain without rtotel, with its Calls
// alone (events and metrics), with its Trace as the client's own, and with
// rtotel's Client (and the otelhttp
// span per attempt it brings), on the no-network path and over loopback.
//
// Run: go test -run '^$' -bench Instrumented -benchmem -count 6 .
func BenchmarkInstrumented(b *testing.B) {
	plain := func(_ *testing.B, base http.RoundTripper) http.RoundTripper {
		return transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: -1}).Transport
	}
	for _, c := range []struct {
		name string
		wrap func(*testing.B, http.RoundTripper) http.RoundTripper
	}{{"rtchain", plain}, {"rtchain+rtotel.Calls", callsOnly}, {"rtchain+rtotel.Trace", clientTrace}, {"rtchain+rtotel", instrumented}} {
		b.Run("canned/"+c.name, func(b *testing.B) {
			rt := c.wrap(b, canned)
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://api.test/items?id=1", nil)
			b.ReportAllocs()
			for b.Loop() {
				roundTripCanned(b, rt, req)
			}
		})
		b.Run("loopback/"+c.name, func(b *testing.B) {
			url := newServer(b, htu.OK("ok"))
			rt := c.wrap(b, newBase(b))
			b.ReportAllocs()
			for b.Loop() {
				get(b, rt, url)
			}
		})
	}
}
