package httptestutil_test

import (
	"fmt"
	"net/http"
	"time"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// A client with retries against a server that fails twice, as in a test.
func Example() {
	srv := htu.Start( // in a test: htu.NewServer(t, ...)
		htu.Unavailable(0),     // 503, Retry-After: 0
		htu.TooManyRequests(0), // 429, Retry-After: 0
		htu.OK("hello"))
	defer srv.Close()

	client := &http.Client{Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{}))}
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, "after", srv.Count(), "requests on", srv.Conns(), "connection")
	// Output: 200 OK after 3 requests on 1 connection
}

// An origin that allows 2 requests a second with a burst of 2, and answers
// 429 with Retry-After: 1 beyond it.
func ExampleRateLimited() {
	origin := htu.RateLimited(2, 2, time.Second, htu.OK("hello"))
	srv := htu.Start(origin)
	defer srv.Close()

	for range 3 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	fmt.Println("served", origin.Served(), "throttled", origin.Throttled())
	// Output:
	// 200 Retry-After=""
	// 200 Retry-After=""
	// 429 Retry-After="1"
	// served 2 throttled 1
}
