package rtotel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rtchain/rtchain/rtotel"
	"github.com/rtchain/rtchain/transport"
)

// flaky answers 503 twice, then 200, for each path.
func flaky() *httptest.Server {
	var n atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 != 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
}

// describe prints each ended span: its name, its resend count, and its
// events.
func describe(spans []sdktrace.ReadOnlySpan) {
	for _, s := range spans {
		line := s.Name()
		for _, kv := range s.Attributes() {
			if kv.Key == "http.request.resend_count" {
				line += fmt.Sprintf(" resend_count=%d", kv.Value.AsInt64())
			}
		}
		for _, e := range s.Events() {
			set := attribute.NewSet(e.Attributes...)
			reason, _ := set.Value("rtchain.retry.reason")
			line += fmt.Sprintf(" [%s %s]", e.Name, reason.AsString())
		}
		fmt.Println(line)
	}
}

// A span per attempt: Client puts otelhttp inside Retry, so that each
// attempt is a client span (the resent ones marked), and the retries are
// events on the caller's span.
func Example_perAttempt() {
	srv := flaky()
	defer srv.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	mp := sdkmetric.NewMeterProvider()
	inst, err := rtotel.New(rtotel.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		panic(err)
	}
	client := inst.Client(transport.ClientOptions{Retry: transport.RetryPolicy{BaseDelay: time.Millisecond}})
	defer client.CloseIdleConnections()

	ctx, call := tp.Tracer("example").Start(context.Background(), "checkout")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	call.End()
	describe(spans.Ended())
	// Output:
	// HTTP GET
	// HTTP GET resend_count=1
	// HTTP GET resend_count=2
	// checkout [rtchain.retry 503] [rtchain.retry 503]
}

// A span per call: otelhttp outside Retry makes one client span for the
// call, which carries the retry events itself. Calls goes outside both.
func Example_perCall() {
	srv := flaky()
	defer srv.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	inst, err := rtotel.New(rtotel.Options{TracerProvider: tp, MeterProvider: sdkmetric.NewMeterProvider()})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: transport.Chain(nil,
		inst.Calls(),
		func(next http.RoundTripper) http.RoundTripper {
			return otelhttp.NewTransport(next, otelhttp.WithTracerProvider(tp))
		},
		transport.Retry(transport.RetryPolicy{BaseDelay: time.Millisecond}),
	)}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	describe(spans.Ended())
	// Output:
	// HTTP GET [rtchain.retry 503] [rtchain.retry 503]
}
