package redisstore_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/transport"
)

// Two instances of a payment service share one Redis. The first charges the
// card, then loses the answer (its connection drops); the client's retry
// fails over to the second, which answers from the record the first stored.
func Example() {
	redisServer, err := redistest.Launch("") // in production: your Redis
	if err != nil {
		fmt.Println(err)
		return
	}
	defer redisServer.Kill()
	rdb := redis.NewClient(&redis.Options{Addr: redisServer.Addr})
	defer rdb.Close()

	var charges atomic.Int32
	pay := idempotency.Middleware(idempotency.Options{Store: redisstore.New(rdb, "idem:")})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := charges.Add(1)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "charge #%d", n)
		}))
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pay.ServeHTTP(httptest.NewRecorder(), r) // charged...
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close() // ...but the answer is lost
	}))
	defer a.Close()
	b := httptest.NewServer(pay)
	defer b.Close()

	client := transport.NewClientWith(transport.ClientOptions{
		IdempotencyKeys: true, // these servers honour Idempotency-Key
		Retry:           transport.RetryPolicy{Hosts: []string{host(a.URL), host(b.URL)}},
	})
	defer client.CloseIdleConnections()
	resp, err := client.Post(a.URL+"/pay", "application/json", strings.NewReader(`{"amount":10}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), "replayed:", resp.Header.Get("Idempotent-Replayed"))
	fmt.Println("charges:", charges.Load())
	// Output:
	// 201 charge #1 replayed: true
	// charges: 1
}

func host(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}
