package rtaws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rtchain/rtchain/rtaws"
)

// answer is what the fake DynamoDB answers one request: a status and an
// error code (200 and "" for success), and an x-amz-retry-after in
// milliseconds when wait > 0.
type answer struct {
	status int
	code   string
	wait   int
}

var (
	ok         = answer{status: http.StatusOK}
	throttled  = answer{status: http.StatusBadRequest, code: "ProvisionedThroughputExceededException"}
	internal   = answer{status: http.StatusInternalServerError, code: "InternalServerError"}
	unavail    = answer{status: http.StatusServiceUnavailable, code: "ServiceUnavailable"}
	validation = answer{status: http.StatusBadRequest, code: "ValidationException"}
)

// fakeDynamoDB is DynamoDB in memory, an http.RoundTripper: no network, so
// that tests run in a synctest bubble. script says what each request to a
// table gets, by its number for that table (from 1); latency is how long
// each answer takes (virtual time in a bubble).
type fakeDynamoDB struct {
	script  func(table string, n int) answer
	latency time.Duration

	mu   sync.Mutex
	seen []request
}

// request is what the fake saw of one request.
type request struct {
	table, target string
	at            time.Time
}

func (f *fakeDynamoDB) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	var in struct{ TableName string }
	_ = json.Unmarshal(body, &in)
	f.mu.Lock()
	f.seen = append(f.seen, request{table: in.TableName, target: r.Header.Get("X-Amz-Target"), at: time.Now()})
	n := 0
	for _, s := range f.seen {
		if s.table == in.TableName {
			n++
		}
	}
	f.mu.Unlock()
	a := ok
	if f.script != nil {
		a = f.script(in.TableName, n)
	}
	if f.latency > 0 {
		t := time.NewTimer(f.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return nil, r.Context().Err() // as a real transport ends an attempt
		}
	}
	resp := &http.Response{
		StatusCode: a.status, Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:    io.NopCloser(strings.NewReader(`{}`)),
		Request: r,
	}
	if a.code != "" {
		resp.Body = io.NopCloser(bytes.NewReader(fmt.Appendf(nil,
			`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"fake %s"}`, a.code, a.code)))
	}
	if a.wait > 0 {
		resp.Header.Set("X-Amz-Retry-After", fmt.Sprint(a.wait))
	}
	return resp, nil
}

// requests returns what the fake saw, for table when it is not "".
func (f *fakeDynamoDB) requests(table string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, s := range f.seen {
		if table == "" || s.table == table {
			out = append(out, s)
		}
	}
	return out
}

var creds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "fake-secret", Source: "test"}, nil
})

// newDynamoDB returns a DynamoDB client on the fake with the retryer r and
// AddScope, as the recipe has it.
func newDynamoDB(f *fakeDynamoDB, r aws.Retryer, scope bool) *dynamodb.Client {
	o := dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("https://dynamodb.test"),
		Credentials: creds, HTTPClient: &http.Client{Transport: f}, Retryer: r,
	}
	if scope {
		o.APIOptions = append(o.APIOptions, rtaws.AddScope)
	}
	return dynamodb.New(o)
}

func putItem(ctx context.Context, c *dynamodb.Client, table string) error {
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item:      map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o-1"}},
	})
	return err
}
