package rtaws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rtchain/rtchain/rtaws"
	"github.com/rtchain/rtchain/transport"
)

// The SDK's retry loop on rtchain's policy. A DynamoDB stand-in throttles
// the first write to "orders" (a 400 whose body names
// ProvisionedThroughputExceededException) and fails every write to
// "audit" with 503. The write to "orders" is retried and succeeds; "audit"
// spends its own scope's budget (here one banked retry, no floor), and
// its next write is not retried: its error says why, and what DynamoDB
// last answered.
func Example() {
	var mu sync.Mutex
	requests := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ TableName string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &in)
		mu.Lock()
		requests[in.TableName]++
		n := requests[in.TableName]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch {
		case in.TableName == "audit":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"__type":"ServiceUnavailable","message":"Service unavailable."}`)
		case n == 1:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded."}`)
		default:
			fmt.Fprint(w, `{}`)
		}
	}))
	defer srv.Close()

	cfg := aws.Config{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(srv.URL)}
	cfg.Retryer = rtaws.Retryer(rtaws.Options{
		BaseDelay: time.Millisecond, ThrottleBaseDelay: time.Millisecond, // short, for the example
		Budget: transport.RetryBudget{MaxBanked: 1, MinPerSecond: -1},
	})
	cfg.APIOptions = append(cfg.APIOptions, rtaws.AddScope)
	client := dynamodb.NewFromConfig(cfg)

	ctx := context.Background()
	fmt.Println("orders:", putItem(ctx, client, "orders"), "after", requests["orders"], "requests")
	fmt.Println("audit:", putItem(ctx, client, "audit") != nil, "after", requests["audit"], "requests")
	err := putItem(ctx, client, "audit")
	var giveUp *rtaws.GiveUpError
	fmt.Println("audit again:", errors.As(err, &giveUp), "after", requests["audit"]-2, "request")
	fmt.Println(giveUp)
	// Output:
	// orders: <nil> after 2 requests
	// audit: true after 2 requests
	// audit again: true after 1 request
	// rtaws: DynamoDB PutItem on audit not retried after 1 attempt: the client spent its retry budget (a share of its calls) for it; the service last answered 503 ServiceUnavailable: Service unavailable.
}
