package transport_test

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// The snippet of docs/options.md, compiled (see docs_snippets_test.go).
var _ = snippetOptions

func snippetOptions() *http.Client {
	client := transport.NewClientWith(transport.ClientOptions{
		Timeout:         10 * time.Second,                             // until the response begins, retries and waits included (default 30s)
		IdempotencyKeys: true,                                         // only if the server honours Idempotency-Key (Stripe, your idempotency.Middleware)
		Log:             transport.LogOptions{Logger: slog.Default()}, // one line per call; quiet without a Logger
		Retry: transport.RetryPolicy{
			MaxRetries:    5,               // retries after the first attempt; 0 means the default (3), -1 none
			PerTryTimeout: 2 * time.Second, // cut one hung attempt and try again
		},
		Headers: transport.HeaderOptions{Static: http.Header{"User-Agent": {"myapp/1.2"}}},
	})
	return client
}

// The logging snippet of docs/observability.md, compiled.
var _ = snippetLogging

func snippetLogging() *http.Client {
	client := transport.NewClientWith(transport.ClientOptions{
		Log: transport.LogOptions{Logger: slog.Default()}, // LogHeaders, Redact, RedactPath: more, or other, secrets
	})
	return client
}
