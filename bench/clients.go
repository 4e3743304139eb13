package bench

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/PuerkitoBio/rehttp"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/rtchain/rtchain/transport"
)

// MaxRetries is the retry count every client is configured with.
const MaxRetries = 3

// Lib builds one library's RoundTripper over a base, configured as alike as
// the libraries allow: MaxRetries retries, on transient errors and on
// 408/429/5xx, with no wait between attempts (so that what is measured is
// the library, not the sleep).
type Lib struct {
	Name string
	// Wrap returns the library's RoundTripper over base. budget says
	// whether a library that has a retry budget uses it (its default).
	Wrap func(base http.RoundTripper, budget bool) http.RoundTripper
}

// quiet is a logger whose every level is disabled: rtchain's default chain
// with logging present but off.
var quiet = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 1}))

// Libs are the clients under test; the first is the physical floor.
var Libs = []Lib{
	{"bare", func(base http.RoundTripper, _ bool) http.RoundTripper { return base }},
	{"rtchain", func(base http.RoundTripper, budget bool) http.RoundTripper {
		return transport.NewClientWith(transport.ClientOptions{
			Base: base,
			Log:  transport.LogOptions{Logger: quiet},
			Retry: transport.RetryPolicy{
				MaxRetries: MaxRetries, BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond,
				Budget: transport.RetryBudget{Disabled: !budget},
			},
			Breaker: transport.BreakerOptions{Disabled: !budget}, // a breaker would fail fast in an outage: not a like-for-like retry count
			Timeout: -1,
		}).Transport
	}},
	{"go-retryablehttp", func(base http.RoundTripper, _ bool) http.RoundTripper {
		c := retryablehttp.NewClient()
		c.HTTPClient = &http.Client{Transport: base}
		c.Logger = nil
		c.RetryMax = MaxRetries
		c.RetryWaitMin, c.RetryWaitMax = 0, 0
		return &retryablehttp.RoundTripper{Client: c}
	}},
	{"rehttp", func(base http.RoundTripper, _ bool) http.RoundTripper {
		return rehttp.NewTransport(base,
			rehttp.RetryAll(
				rehttp.RetryMaxRetries(MaxRetries),
				rehttp.RetryAny(
					rehttp.RetryTemporaryErr(),
					rehttp.RetryStatuses(408, 429, 500, 502, 503, 504),
				),
			),
			rehttp.ConstDelay(0))
	}},
	{"failsafehttp", func(base http.RoundTripper, _ bool) http.RoundTripper {
		return failsafehttp.NewRoundTripper(base,
			failsafehttp.NewRetryPolicyBuilder().WithMaxRetries(MaxRetries).WithDelay(0).Build())
	}},
}
