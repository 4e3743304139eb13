package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// A host that throttles everything it is sent (429, Retry-After: 1) is
// cooled down as a whole: for the next second RateLimit sends it nothing.
// A call that cannot afford to wait fails at once, without reaching the
// server; the caller tells that apart from an answer of the server with
// errors.Is(err, transport.ErrRejectedLocally), and reads why and for how
// long with errors.As to *transport.RejectedError.
func Example_rejectedLocally() {
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		seen.Add(1)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	client := &http.Client{Transport: transport.Chain(srv.Client().Transport, transport.RateLimit(transport.RateLimitOptions{}))}

	for range 10 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = resp.Body.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	resp, err := client.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	fmt.Println("rejected locally:", errors.Is(err, transport.ErrRejectedLocally))
	var rejected *transport.RejectedError
	if errors.As(err, &rejected) {
		fmt.Println("would pass the deadline:", rejected.Deadline, errors.Is(err, context.DeadlineExceeded))
		fmt.Println("host takes it in:", rejected.Wait.Round(time.Second))
	}
	fmt.Println("failed at once:", time.Since(start) < 100*time.Millisecond)
	fmt.Println("requests the server saw:", seen.Load())
	// Output:
	// rejected locally: true
	// would pass the deadline: true true
	// host takes it in: 1s
	// failed at once: true
	// requests the server saw: 10
}
