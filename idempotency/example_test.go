package idempotency_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/transport"
)

// A payment handler behind the middleware, and a client that retries with
// keys: the second request with the same key is answered from the store,
// and the payment runs once.
func Example() {
	charges := 0
	pay := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		charges++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "charge #%d", charges)
	})
	srv := httptest.NewServer(idempotency.Middleware(idempotency.Options{})(pay))
	defer srv.Close()
	client := transport.NewClientWith(transport.ClientOptions{IdempotencyKeys: true})
	defer client.CloseIdleConnections()

	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"amount":10}`))
		req.Header.Set("Idempotency-Key", "order-42") // the same order, sent twice
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body), "replayed:", resp.Header.Get("Idempotent-Replayed") == "true")
	}
	fmt.Println("charges:", charges)
	// Output:
	// 201 charge #1 replayed: false
	// 201 charge #1 replayed: true
	// charges: 1
}

// The fence before an effect: a handler confirms that its request still
// holds the key (extending the lease) before it charges, and charges nothing
// if it does not. An instance that stalled past its lease, while a retry
// charged on another instance, cannot charge a second time.
func ExampleConfirm() {
	charge := func(r *http.Request) string { return "charged " + r.Header.Get("Idempotency-Key") }
	pay := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ... validate, compute: anything that can be done twice ...
		if err := idempotency.Confirm(r.Context()); err != nil {
			// ErrLeaseLost: a duplicate holds the key now. A 5xx frees
			// nothing and makes the client retry, to get its outcome.
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, charge(r)) // the effect, within a lease of Confirm
	})
	srv := httptest.NewServer(idempotency.Middleware(idempotency.Options{})(pay))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"amount":10}`))
	req.Header.Set("Idempotency-Key", "order-43")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 201 charged order-43
}
