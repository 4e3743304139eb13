package transport_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/transport"
)

// The Go snippets of docs/timeouts.md, compiled (see docs_snippets_test.go),
// and the README's stacked chain with Timeouts in it, as the README is to
// show it.
var _ = []any{snippetTimeoutsStacked, snippetWhoseTimeout, snippetStackWithTimeouts}

func snippetStackWithTimeouts() *http.Client {
	client := &http.Client{
		Transport: transport.Chain(nil, // nil: transport.DefaultPooledTransport()
			transport.Logging(transport.LogOptions{Logger: slog.Default()}),
			transport.Timeouts(transport.TimeoutOptions{}), // NewClient's: 30s for the response to begin, 30s for a stalled body
			transport.IdempotencyKeys(),                    // only for servers that honour Idempotency-Key
			transport.Retry(transport.RetryPolicy{PerTryTimeout: 2 * time.Second}),
			transport.RateLimit(transport.RateLimitOptions{Limiter: rate.NewLimiter(50, 10)}),
			transport.Headers(transport.HeaderOptions{Static: http.Header{"User-Agent": {"myapp/1.2"}}}),
		),
	}
	return client
}

func snippetTimeoutsStacked() *http.Client {
	client := &http.Client{
		Transport: transport.Chain(nil,
			transport.Logging(transport.LogOptions{Logger: slog.Default()}),
			transport.Timeouts(transport.TimeoutOptions{}), // NewClient's: 30s for the response to begin, 30s for a stalled body
			transport.Retry(transport.RetryPolicy{PerTryTimeout: 2 * time.Second}),
		),
	}
	return client
}

func snippetWhoseTimeout(ctx context.Context, client *http.Client, req *http.Request) string {
	resp, err := client.Do(req.WithContext(ctx))
	if err == nil {
		resp.Body.Close()
		return "none"
	}
	switch {
	case ctx.Err() != nil:
		return "yours: your deadline passed, or you cancelled"
	case errors.Is(err, transport.ErrResponseTimeout):
		return "the client's: no response within ClientOptions.Timeout, retries included"
	case errors.Is(err, transport.ErrPerTryTimeout):
		return "each attempt hung past RetryPolicy.PerTryTimeout, and the retries ran out"
	case os.IsTimeout(err):
		return "http.Client.Timeout, or the base transport's (dial, TLS handshake)"
	}
	return "not a timeout"
}
