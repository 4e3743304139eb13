package transport_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"

	"github.com/rtchain/rtchain/transport"
)

// NewClientWith configures the default chain: here, keys for a server that
// honours them, a logger, and a header on every attempt.
func ExampleNewClientWith() {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway) // the first answer is lost
			return
		}
		fmt.Fprintf(w, "created, key present: %v, agent %s", r.Header.Get("Idempotency-Key") != "", r.Header.Get("User-Agent"))
	}))
	defer srv.Close()

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelWarn, // only what went wrong for good
	}))
	client := transport.NewClientWith(transport.ClientOptions{
		IdempotencyKeys: true, // this server honours Idempotency-Key
		Log:             transport.LogOptions{Logger: logger},
		Headers:         transport.HeaderOptions{Static: http.Header{"User-Agent": {"shop/1.0"}}},
	})
	defer client.CloseIdleConnections()

	resp, err := client.Post(srv.URL+"/orders", "application/json", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, "after", attempts.Load(), "attempts")
	// Output: 200 OK after 2 attempts
}

// A Classifier overrides the built-in rules for the attempts it knows
// about; OnGiveUp says which limit stopped a retry that was wanted.
func ExampleClassifier() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// This API answers 400 with this header while it deploys.
		w.Header().Set("X-Deploying", "true")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()

	client := &http.Client{Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{
		Classifier: func(a transport.Attempt) transport.Decision {
			if a.Response != nil && a.Response.Header.Get("X-Deploying") == "true" {
				return transport.RetryAttempt
			}
			return transport.Default
		},
		OnGiveUp: func(e transport.GiveUpEvent) {
			fmt.Printf("attempt %d (%s) not retried: %s\n", e.Attempt.Number, e.Attempt.Response.Status, e.Reason)
		},
	}))}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("returned:", resp.Status)
	// Output:
	// attempt 1 (400 Bad Request) not retried: Retry-After above MaxRetryAfter
	// returned: 400 Bad Request
}

// A retry budget keeps a dead backend from getting MaxRetries+1 times its
// traffic: against a server that always fails, most calls are not retried.
func ExampleRetryBudget() {
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	client := &http.Client{Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{
		MaxRetries: 3,
		BaseDelay:  1, // 1ns: no real waiting in this example
		// 10% of calls may be retried, with no floor and nothing banked
		// beyond one retry: a strict budget.
		Budget: transport.RetryBudget{Ratio: 0.1, MinPerSecond: -1, MaxBanked: 1},
	}))}
	defer client.CloseIdleConnections()

	const calls = 100
	for range calls {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}
	fmt.Printf("%d calls, %d requests (without a budget: %d)\n", calls, seen.Load(), calls*4)
	// Output: 100 calls, 110 requests (without a budget: 400)
}

// A middleware placed inside Retry runs once per attempt, on a clone of its
// own: the place to sign each attempt anew (a timestamped signature, a
// refreshed token), as go-retryablehttp's PrepareRetry does.
func ExampleRetry_signEachAttempt() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("server got", r.Header.Get("X-Signature"))
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	sign := func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			r := req.Clone(req.Context()) // never modify the request you are given
			attempt := transport.AttemptFromContext(req.Context())
			r.Header.Set("X-Signature", fmt.Sprintf("sig(%s %s, attempt %d)", r.Method, r.URL.Path, attempt))
			return next.RoundTrip(r)
		})
	}
	client := &http.Client{Transport: transport.Chain(nil,
		transport.Retry(transport.RetryPolicy{BaseDelay: 1}),
		sign, // inside Retry: once per attempt
	)}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL + "/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// server got sig(GET /orders, attempt 1)
	// server got sig(GET /orders, attempt 2)
	// 200 OK
}
