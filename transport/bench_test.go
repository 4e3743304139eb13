package transport_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/transport"
)

// canned is a base that answers 200 with no network: what remains is the
// middleware's own cost.
var canned = transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
})

func benchRoundTrip(b *testing.B, rt http.RoundTripper) {
	b.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://api.test/items?id=1", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

// Run: go test -run '^$' -bench . -benchmem ./transport
func BenchmarkOverhead(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 1}))
	loud := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"base", canned},
		{"Retry", transport.Chain(canned, transport.Retry(transport.RetryPolicy{}))},
		{"Logging/disabled", transport.Chain(canned, transport.Logging(transport.LogOptions{Logger: quiet}))},
		{"Logging/enabled", transport.Chain(canned, transport.Logging(transport.LogOptions{Logger: loud}))},
		{"Headers", transport.Chain(canned, transport.Headers(transport.HeaderOptions{Static: http.Header{"User-Agent": {"x"}}}))},
		{"RateLimit/defaults", transport.Chain(canned, transport.RateLimit(transport.RateLimitOptions{}))},
		{"RateLimit/no pacing", transport.Chain(canned, transport.RateLimit(transport.RateLimitOptions{NoPacing: true}))},
		{"RateLimit/limiter", transport.Chain(canned, transport.RateLimit(transport.RateLimitOptions{Limiter: rate.NewLimiter(rate.Inf, 1)}))},
		{"NewClient chain", transport.NewClientWith(transport.ClientOptions{Base: canned}).Transport},
		{"NewClient chain+disabled logging", transport.NewClientWith(transport.ClientOptions{Base: canned, Log: transport.LogOptions{Logger: quiet}}).Transport},
	} {
		b.Run(bc.name, func(b *testing.B) { benchRoundTrip(b, bc.rt) })
	}
}
