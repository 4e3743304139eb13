package transport_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/rtchain/rtchain/transport"
)

// Per-call control through the context. A search sent as a POST is safe to
// send again, which only the caller knows: WithRepeatable lets Retry retry
// it after a 502, as it would a GET. A call that must not wait for retries
// is sent once with WithMaxRetries(ctx, 0). The other calls through the
// same client keep its policy.
func ExampleWithRepeatable() {
	var searches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/search" && searches.Add(1) == 1:
			w.WriteHeader(http.StatusBadGateway)
		case r.URL.Path == "/search":
			_, _ = io.WriteString(w, "3 results")
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	client := transport.NewClient()

	ctx := transport.WithRepeatable(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/search", strings.NewReader(`{"q":"boots"}`))
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	fmt.Printf("search: %s, %q after %d attempts\n", resp.Status, body, transport.Attempts(resp))

	ctx = transport.WithMaxRetries(context.Background(), 0)
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/status", nil)
	resp, err = client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = resp.Body.Close()
	fmt.Printf("status: %s after %d attempt\n", resp.Status, transport.Attempts(resp))
	// Output:
	// search: 200 OK, "3 results" after 2 attempts
	// status: 503 Service Unavailable after 1 attempt
}
