package transport_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// A client whose requests are retried: the server fails twice, then answers.
func ExampleRetry() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	client := &http.Client{
		Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{
			MaxRetries: 3,
			OnRetry: func(e transport.RetryEvent) {
				fmt.Printf("attempt %d: %s, retrying\n", e.Attempt.Number, e.Reason())
			},
		})),
		Timeout: 10 * time.Second,
	}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output:
	// attempt 1: 503 Service Unavailable, retrying
	// attempt 2: 503 Service Unavailable, retrying
	// 200 OK hello
}

// Chain stacks middleware; the first one is the outermost.
func ExampleChain() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "agent=%s", r.UserAgent())
	}))
	defer srv.Close()

	userAgent := func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			req = req.Clone(req.Context()) // never modify the caller's request
			req.Header.Set("User-Agent", "example/1.0")
			return next.RoundTrip(req)
		})
	}
	client := &http.Client{Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{}), userAgent)}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: agent=example/1.0
}
