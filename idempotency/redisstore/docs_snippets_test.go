package redisstore_test

import (
	"io"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/transport"
)

// The fleet's snippet (docs/server.md), compiled; see
// transport/docs_snippets_test.go.
var _ = snippetFleet

func snippetFleet(pay http.HandlerFunc, body io.Reader) (*http.Response, error) {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	mw := idempotency.Middleware(idempotency.Options{Store: redisstore.New(rdb, "idem:")})
	http.Handle("/pay", mw(http.HandlerFunc(pay))) // on every instance

	client := transport.NewClientWith(transport.ClientOptions{
		IdempotencyKeys: true, // our servers honour Idempotency-Key
		Retry:           transport.RetryPolicy{Hosts: []string{"pay-1.internal:8080", "pay-2.internal:8080"}},
	})
	resp, err := client.Post("http://pay-1.internal:8080/pay", "application/json", body)
	return resp, err
}
