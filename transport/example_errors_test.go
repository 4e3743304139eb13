package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// A chain stacked by hand gets NewClient's timeouts from Timeouts, put
// outside Retry so that its bound holds retries and their waits too. Which
// timeout ended a call is told by the error, and the caller's own context.
func ExampleTimeouts() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	}))
	defer srv.Close()

	client := &http.Client{Transport: transport.Chain(nil,
		transport.Timeouts(transport.TimeoutOptions{Response: 100 * time.Millisecond}),
		transport.Retry(transport.RetryPolicy{}),
	)}
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	_, err := client.Do(req)
	switch {
	case ctx.Err() != nil:
		fmt.Println("my deadline:", ctx.Err())
	case errors.Is(err, transport.ErrResponseTimeout):
		fmt.Println("the client's timeout:", strings.TrimPrefix(err.Error(), `Get "`+srv.URL+`": `))
	}
	// Output:
	// the client's timeout: transport: no response within the client's timeout (100ms)
}

// A server that answers 503 to every attempt: the call returns its last
// 503 with a nil error, and Attempts says how many were sent.
func ExampleAttempts() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	client := &http.Client{Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{BaseDelay: time.Millisecond}))}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	fmt.Println(resp.Status, "after", transport.Attempts(resp), "attempts")
	// Output: 503 Service Unavailable after 4 attempts
}

// The error of a call quotes its URL, as net/http writes it; RedactError
// takes the secrets out before it is logged, and errors.Is and errors.As
// still work on what it returns.
func ExampleRedactError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close() // no answer
	}))
	defer srv.Close()

	client := &http.Client{Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{BaseDelay: time.Millisecond}))}
	defer client.CloseIdleConnections()

	_, err := client.Get(srv.URL + "/report?api_key=HUNTER2&page=2")
	if err != nil {
		err = transport.RedactError(err)
		var re *transport.RetryError
		fmt.Println(strings.Replace(err.Error(), srv.URL, "http://server", 1))
		fmt.Println(errors.As(err, &re), re.Attempts)
	}
	// Output:
	// Get "http://server/report?api_key=REDACTED&page=2": transport: after 4 attempts: EOF
	// true 4
}
