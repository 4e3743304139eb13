package httptestutil_test

import (
	"fmt"
	"net/http"

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
