package overload_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/overload"
)

// A server that sheds first: overload.Middleware outermost, so that a
// request it refuses takes no Idempotency-Key. Here the server can serve
// one request at a time, and one is running: the next is refused at once
// with a wait the client can use.
func Example() {
	busy, release := make(chan struct{}), make(chan struct{})
	pay := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(busy)
			<-release
		}
		w.WriteHeader(http.StatusCreated)
	})
	limiter := overload.NewLimiter(overload.LimiterOptions{InitialLimit: 1, MaxLimit: 1, Queue: -1})
	srv := httptest.NewServer(overload.Middleware(overload.Options{Limiter: limiter})(
		idempotency.Middleware(idempotency.Options{})(pay)))
	defer srv.Close()

	done := make(chan struct{})
	go func() {
		resp, err := http.Post(srv.URL+"/slow", "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
		close(done)
	}()
	<-busy

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/pay", nil)
	req.Header.Set("Idempotency-Key", "order-44")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Retry-After-Ms") != "")
	fmt.Print(string(body))

	close(release)
	<-done
	resp, err = http.DefaultClient.Do(req) // the retry: the key was never taken
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 503 1 true
	// {"type":"https://github.com/rtchain/rtchain/blob/main/docs/problems.md#overloaded","title":"Server overloaded","status":503,"detail":"the request was not started; retry after the wait in retry-after-ms"}
	// 201
}
