package sdktest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/rtaws"
	"github.com/rtchain/rtchain/transport"
)

// The rtaws recipe: the SDK's loop on rtaws's retryer, with AddScope, and
// rtchain's chain under it with its own retries off (awsHTTPClient). The
// waits are shortened so that the tests are quick; the rest is the
// default.
func rtawsRetryer(o rtaws.Options) aws.Retryer {
	o.BaseDelay, o.ThrottleBaseDelay = time.Millisecond, time.Millisecond
	return rtaws.NewRetryer(o)
}

var withScope = []func(*middleware.Stack) error{rtaws.AddScope}

func rtawsDynamoDB(url string, hc *http.Client, r aws.Retryer) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: fakeCreds, HTTPClient: hc, Retryer: r, APIOptions: withScope})
}

func rtawsSQS(url string, hc *http.Client, r aws.Retryer) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: fakeCreds, HTTPClient: hc, Retryer: r, APIOptions: withScope})
}

func rtawsS3(url, secret string, hc *http.Client, r aws.Retryer) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", secret, ""),
		HTTPClient:  hc, Retryer: r, APIOptions: withScope})
}

func fakeDynamoDB() *fakeAWSJSON {
	return &fakeAWSJSON{targetPrefix: "DynamoDB_20120810.", namespace: "com.amazonaws.dynamodb.v20120810",
		throttleCode: "ProvisionedThroughputExceededException"}
}

func fakeSQS() *fakeAWSJSON {
	return &fakeAWSJSON{targetPrefix: "AmazonSQS.", namespace: "com.amazonaws.sqs", throttleCode: "RequestThrottled"}
}

func putItemIn(c *dynamodb.Client, table string) error {
	_, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item:      map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o-1"}},
	})
	return err
}

// Through the rtaws recipe, a throttled or failed DynamoDB PutItem, SQS
// SendMessage or S3 DeleteObjects succeeds, signed anew on every attempt,
// in as many requests as through the SDK's own retryer, with one effect;
// a ValidationException is sent once.
func TestRTAWSRecipe(t *testing.T) {
	services := []struct {
		name string
		fake func() *fakeAWSJSON
		call func(url string, r aws.Retryer) error
	}{
		{"DynamoDB PutItem", fakeDynamoDB, func(url string, r aws.Retryer) error {
			return putItemIn(rtawsDynamoDB(url, awsHTTPClient(), r), "orders")
		}},
		{"SQS SendMessage", fakeSQS, func(url string, r aws.Retryer) error {
			return sendMessage(rtawsSQS(url, awsHTTPClient(), r), url)
		}},
	}
	for _, svc := range services {
		for _, script := range [][]string{{"throttle"}, {"throttle", "throttle"}, {"500"}, {"503"}, {"500", "503"}} {
			t.Run(svc.name+" "+strings.Join(script, ","), func(t *testing.T) {
				f := svc.fake()
				require.NoError(t, svc.call(f.start(t, script...), rtawsRetryer(rtaws.Options{})))
				seen := f.seen()
				require.Len(t, seen, len(script)+1, "as many requests as through the SDK's retryer (TestAWSJSONRecipe)")
				for i, r := range seen {
					require.NoError(t, r.sigErr, "attempt %d is signed", i+1)
					assert.Contains(t, r.sdkRequest, "attempt=", "the SDK counts its attempts")
				}
				assert.Equal(t, 1, f.effects)
			})
		}
		t.Run(svc.name+" a ValidationException is sent once", func(t *testing.T) {
			f := svc.fake()
			err := svc.call(f.start(t, "invalid"), rtawsRetryer(rtaws.Options{}))
			var api smithy.APIError
			require.ErrorAs(t, err, &api)
			assert.Equal(t, "ValidationException", api.ErrorCode())
			assert.Len(t, f.seen(), 1)
		})
	}
	for _, script := range [][]string{{"503"}, {"500"}, {"503", "500"}} {
		t.Run("S3 DeleteObjects "+strings.Join(script, ","), func(t *testing.T) {
			f, url := newFakeS3(t, script...)
			out, err := rtawsS3(url, f.secret, awsHTTPClient(), rtawsRetryer(rtaws.Options{})).DeleteObjects(context.Background(), &s3.DeleteObjectsInput{
				Bucket: aws.String("bucket"),
				Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b")}}},
			})
			require.NoError(t, err)
			assert.Len(t, out.Deleted, 2)
			f.signedAttempts(t, len(script)+1, -1)
		})
	}
	t.Run("S3 PutObject 1 MiB, 503 SlowDown then 500", func(t *testing.T) {
		f, url := newFakeS3(t, "503", "500")
		data := payload(1 << 20)
		_, err := rtawsS3(url, f.secret, awsHTTPClient(), rtawsRetryer(rtaws.Options{})).PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader(data),
		})
		require.NoError(t, err)
		f.signedAttempts(t, 3, len(data))
		assert.True(t, bytes.Equal(data, f.objects["/bucket/key"]))
	})
}

// A failing service sees the budget's share of retries, and no more; a
// call that is not retried ends at once with the service's last answer,
// which errors.As still reaches, joined to what rtaws says of it.
func TestRTAWSBudgetSpent(t *testing.T) {
	f := fakeDynamoDB()
	url := f.start(t, "503", "503", "503", "503", "503")
	c := rtawsDynamoDB(url, awsHTTPClient(), rtawsRetryer(rtaws.Options{Budget: transport.RetryBudget{MaxBanked: 1, MinPerSecond: -1}}))
	require.Error(t, putItemIn(c, "orders"))
	assert.Len(t, f.seen(), 2, "the one banked retry")
	err := putItemIn(c, "orders")
	assert.Len(t, f.seen(), 3, "no retry")

	var giveUp *rtaws.GiveUpError
	require.ErrorAs(t, err, &giveUp)
	assert.Equal(t, transport.GiveUpBudget, giveUp.Reason)
	var api smithy.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, "ServiceUnavailable", api.ErrorCode())
	assert.Equal(t, "operation error DynamoDB: PutItem, https response error StatusCode: 503, RequestID: , "+
		"api error ServiceUnavailable: Service unavailable.\n"+
		"rtaws: DynamoDB PutItem on orders not retried after 1 attempt: the client spent its retry budget (a share of its calls) for it; "+
		"the service last answered 503 ServiceUnavailable: Service unavailable.", err.Error())
	for _, r := range f.seen() {
		require.NoError(t, r.sigErr)
	}
}

// Budgets are per resource: a table, queue or bucket whose budget is spent
// does not hold back the retries of another on the same endpoint.
func TestRTAWSScopes(t *testing.T) {
	spent := rtaws.Options{Budget: transport.RetryBudget{MaxBanked: 1, MinPerSecond: -1}}
	t.Run("DynamoDB tables", func(t *testing.T) {
		f := fakeDynamoDB()
		c := rtawsDynamoDB(f.start(t, "503", "503", "503", "503"), awsHTTPClient(), rtawsRetryer(spent))
		require.Error(t, putItemIn(c, "orders")) // 503, 503: the bank's retry
		require.Error(t, putItemIn(c, "orders")) // 503: none left
		require.NoError(t, putItemIn(c, "audit"), "503, then success: another table's bank")
		assert.Len(t, f.seen(), 5)
	})
	t.Run("SQS queues", func(t *testing.T) {
		f := fakeSQS()
		url := f.start(t, "throttle", "throttle", "throttle", "throttle")
		c := rtawsSQS(url, awsHTTPClient(), rtawsRetryer(spent))
		send := func(queue string) error {
			_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{
				QueueUrl: aws.String(url + "/123456789012/" + queue), MessageBody: aws.String("m")})
			return err
		}
		require.Error(t, send("orders"))
		require.Error(t, send("orders"))
		require.NoError(t, send("audit"))
		assert.Len(t, f.seen(), 5)
		assert.Equal(t, 1, f.effects)
	})
	t.Run("S3 buckets", func(t *testing.T) {
		f, url := newFakeS3(t, "503", "503", "503", "503")
		c := rtawsS3(url, f.secret, awsHTTPClient(), rtawsRetryer(spent))
		put := func(bucket string) error {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader(payload(100))})
			return err
		}
		require.Error(t, put("logs"))
		require.Error(t, put("logs"))
		require.NoError(t, put("media"))
		assert.Len(t, f.seen(), 5)
		assert.Equal(t, 1, f.puts)
	})
}

// A long poll (SQS ReceiveMessage) refused a retry still backs off before
// it fails, as the SDK makes it, so that a receive loop does not spin on a
// failing queue; another operation fails at once.
func TestRTAWSLongPollBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := fakeSQS()
		f.script = []string{"503", "503", "503", "503", "503", "503", "503", "503", "503", "503", "503", "503"}
		const url = "https://sqs.test"
		c := rtawsSQS(url, inMemory(f), rtaws.NewRetryer(rtaws.Options{
			BaseDelay: time.Second, Budget: transport.RetryBudget{Ratio: 0.001, MaxBanked: 0.5, MinPerSecond: -1}, // never a retry
		}))
		start := time.Now()
		for range 10 {
			_, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url + "/1/orders")})
			var giveUp *rtaws.GiveUpError
			require.ErrorAs(t, err, &giveUp)
		}
		waited := time.Since(start)
		assert.Greater(t, waited, 2*time.Second, "ten waits of full jitter below 1 s")
		assert.Less(t, waited, 10*time.Second)

		start = time.Now()
		require.Error(t, sendMessage(c, url))
		assert.Zero(t, time.Since(start), "SendMessage is no long poll")
		for _, r := range f.seen() {
			require.NoError(t, r.sigErr)
		}
	})
}

// inMemory returns an *http.Client whose requests h serves on the calling
// goroutine, with no network, as the server would see them: the fakes run
// in a synctest bubble this way.
func inMemory(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			defer r.Body.Close()
		}
		in := r.Clone(r.Context())
		in.Host, in.RequestURI = r.URL.Host, r.URL.RequestURI()
		if r.ContentLength > 0 { // net/http writes it from the field, and a server sees it
			in.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, in)
		if err := r.Context().Err(); err != nil {
			return nil, err
		}
		resp := rec.Result()
		resp.Request = r
		return resp, nil
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
