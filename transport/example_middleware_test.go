package transport_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/transport"
)

// flaky answers 503 to the first request and echoes a header afterwards.
func flaky(header string) *httptest.Server {
	var calls atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s=%s", header, r.Header.Get(header))
	}))
}

func get(client *http.Client, url string) {
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
}

// NewClient is the default chain: retries, Idempotency-Keys for POST and
// PATCH, servers' cool-downs; quiet, with a 30s timeout per call.
func ExampleNewClient() {
	srv := flaky("Accept")
	defer srv.Close()
	get(transport.NewClient(), srv.URL)
	// Output: 200 Accept=
}

// Logging writes a record per retry and per call, with secrets redacted.
func ExampleLogging() {
	srv := flaky("X")
	defer srv.Close()
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { // stable output for the example
			switch a.Key {
			case "time", "duration", "url":
				return slog.Attr{}
			}
			return a
		},
	}))
	get(&http.Client{Transport: transport.Chain(nil,
		transport.Logging(transport.LogOptions{Logger: logger}),
		transport.Retry(transport.RetryPolicy{}),
	)}, srv.URL+"/?token=secret")
	// Output:
	// level=INFO msg="http retry" method=GET attempt=1 reason="503 Service Unavailable" wait=0s retry_after=true
	// level=INFO msg="http call" method=GET status=200 attempts=2
	// 200 X=
}

// Headers inside Retry runs once per attempt: the attempt header counts them.
func ExampleHeaders() {
	srv := flaky("Retry-Attempt")
	defer srv.Close()
	get(&http.Client{Transport: transport.Chain(nil,
		transport.Retry(transport.RetryPolicy{}),
		transport.Headers(transport.HeaderOptions{
			Static:        http.Header{"User-Agent": {"example/1.0"}},
			AttemptHeader: "Retry-Attempt",
		}),
	)}, srv.URL)
	// Output: 200 Retry-Attempt=2
}

// IdempotencyKeys outside Retry gives every attempt of a POST the same key.
func ExampleIdempotencyKeys() {
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if len(keys) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: transport.Chain(nil,
		transport.IdempotencyKeys(),
		transport.Retry(transport.RetryPolicy{BaseDelay: 1}),
	)}
	defer client.CloseIdleConnections()
	resp, err := client.Post(srv.URL, "application/json", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, len(keys), "attempts, same key:", keys[0] == keys[1], len(keys[0]))
	// Output: 200 2 attempts, same key: true 36
}

// RateLimit inside Retry spends a token on every attempt.
func ExampleRateLimit() {
	srv := flaky("X")
	defer srv.Close()
	get(&http.Client{Transport: transport.Chain(nil,
		transport.Retry(transport.RetryPolicy{}),
		transport.RateLimit(transport.RateLimitOptions{Limiter: rate.NewLimiter(100, 1)}), // 100 requests a second
	)}, srv.URL)
	// Output: 200 X=
}

// Breaker inside Retry: once a host's circuit opens, calls fail fast without
// touching the network, until the cool-down lets probes through.
func ExampleBreaker() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	client := &http.Client{Transport: transport.Chain(nil,
		transport.Retry(transport.RetryPolicy{MaxRetries: -1}),
		transport.Breaker(transport.BreakerOptions{
			MinRequests: 2,
			OnStateChange: func(_ string, from, to transport.BreakerState) {
				fmt.Println("circuit:", from, "->", to)
			},
		}),
	)}
	defer client.CloseIdleConnections()
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println("fails fast:", errors.Is(err, transport.ErrCircuitOpen))
			continue
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 502
	// circuit: closed -> open
	// 502
	// fails fast: true
}

// RetryPolicy.Hosts: a retry goes to the next equivalent instance.
func ExampleRetryPolicy_hosts() {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "served by the second instance")
	}))
	defer up.Close()

	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	client := &http.Client{Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{
		Hosts: []string{host(down), host(up)},
	}))}
	get(client, down.URL) // the caller names the first instance
	// Output: 200 served by the second instance
}
