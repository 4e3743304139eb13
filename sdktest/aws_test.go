package sdktest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// The AWS recipe: the SDK keeps its own retry loop, which re-signs every
// attempt and reads AWS's error codes (DynamoDB throttles with a 400 whose
// body names ProvisionedThroughputExceededException; every DynamoDB, SQS
// and STS call is a POST), and rtchain's chain goes under it with its own
// retries off, so that attempts are the SDK's and never multiplied.
func awsHTTPClient() *http.Client {
	return transport.NewClientWith(transport.ClientOptions{Retry: transport.RetryPolicy{MaxRetries: -1}})
}

// quickRetryer is the SDK's standard retryer, with its backoff shortened
// so that the tests are quick; its classification is the SDK's own.
func quickRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

var fakeCreds = credentials.NewStaticCredentialsProvider("AKIDFAKE", fakeSecret, "")

func newDynamoDB(url string, hc *http.Client) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: fakeCreds, HTTPClient: hc, Retryer: quickRetryer()})
}

func newSQS(url string, hc *http.Client) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: fakeCreds, HTTPClient: hc, Retryer: quickRetryer()})
}

func putItem(c *dynamodb.Client) error {
	_, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String("orders"),
		Item:      map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o-1"}},
	})
	return err
}

func sendMessage(c *sqs.Client, url string) error {
	_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(url + "/123456789012/orders"), MessageBody: aws.String("order o-1"),
	})
	return err
}

// Through the recipe, a throttled or failed DynamoDB or SQS call succeeds
// with a valid signature on every attempt, as the SDK alone does, in as
// many requests: one effect, attempts bounded by the SDK's three.
func TestAWSJSONRecipe(t *testing.T) {
	services := []struct {
		name string
		fake func() *fakeAWSJSON
		call func(url string, hc *http.Client) error
	}{
		{"DynamoDB PutItem", func() *fakeAWSJSON {
			return &fakeAWSJSON{targetPrefix: "DynamoDB_20120810.", namespace: "com.amazonaws.dynamodb.v20120810",
				throttleCode: "ProvisionedThroughputExceededException"}
		}, func(url string, hc *http.Client) error { return putItem(newDynamoDB(url, hc)) }},
		{"SQS SendMessage", func() *fakeAWSJSON {
			return &fakeAWSJSON{targetPrefix: "AmazonSQS.", namespace: "com.amazonaws.sqs", throttleCode: "RequestThrottled"}
		}, func(url string, hc *http.Client) error { return sendMessage(newSQS(url, hc), url) }},
	}
	for _, svc := range services {
		for _, script := range [][]string{{"throttle"}, {"throttle", "throttle"}, {"500"}, {"503"}, {"500", "503"}} {
			t.Run(svc.name+" "+strings.Join(script, ","), func(t *testing.T) {
				f := svc.fake()
				url := f.start(t, script...)
				require.NoError(t, svc.call(url, awsHTTPClient()))
				seen := f.seen()
				require.Len(t, seen, len(script)+1)
				for i, r := range seen {
					require.NoError(t, r.sigErr, "attempt %d is signed", i+1)
					assert.Contains(t, r.sdkRequest, "attempt=", "the SDK counts its own attempts")
				}
				assert.Equal(t, 1, f.effects)

				alone := svc.fake()
				require.NoError(t, svc.call(alone.start(t, script...), &http.Client{}), "the SDK alone gets through too")
				assert.Len(t, alone.seen(), len(seen), "in as many requests")
			})
		}
	}
	t.Run("a refusing service sees the SDK's three attempts, no more", func(t *testing.T) {
		f := services[0].fake()
		url := f.start(t, "503", "503", "503", "503", "503", "503", "503", "503", "503", "503", "503", "503")
		require.Error(t, putItem(newDynamoDB(url, awsHTTPClient())))
		assert.Len(t, f.seen(), 3)
	})
	t.Run("a ValidationException is sent once", func(t *testing.T) {
		f := services[0].fake()
		require.ErrorContains(t, putItem(newDynamoDB(f.start(t, "invalid"), awsHTTPClient())), "ValidationException")
		assert.Len(t, f.seen(), 1)
		assert.Zero(t, f.effects)
	})
}

// S3 DeleteObjects is a POST: refused with 503 SlowDown, or failed with a
// 500, it succeeds through the recipe, re-signed, with its checksum.
func TestS3DeleteObjectsRecipe(t *testing.T) {
	for _, script := range [][]string{{"503"}, {"500"}, {"503", "500"}} {
		t.Run(strings.Join(script, ","), func(t *testing.T) {
			f, url := newFakeS3(t, script...)
			client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", f.secret, ""),
				HTTPClient:  awsHTTPClient(), Retryer: quickRetryer()})
			out, err := client.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{
				Bucket: aws.String("bucket"),
				Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b")}}},
			})
			require.NoError(t, err)
			assert.Len(t, out.Deleted, 2)
			f.signedAttempts(t, len(script)+1, -1)
		})
	}
}

// Why the AWS recipe keeps the SDK's retries: with them off (aws.NopRetryer)
// and rtchain retrying below, a DynamoDB throttle (a 400 that only its body
// names) fails after one attempt, and so does a 500 to a POST.
func TestAWSJSONWithoutTheSDKRetriesFails(t *testing.T) {
	for _, step := range []string{"throttle", "500"} {
		t.Run(step, func(t *testing.T) {
			f := &fakeAWSJSON{targetPrefix: "DynamoDB_20120810.", namespace: "com.amazonaws.dynamodb.v20120810",
				throttleCode: "ProvisionedThroughputExceededException"}
			url := f.start(t, step)
			c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
				Credentials: fakeCreds, HTTPClient: fastClient(transport.ClientOptions{}), Retryer: aws.NopRetryer{}})
			require.Error(t, putItem(c))
			assert.Len(t, f.seen(), 1)
		})
	}
}

// The fake's checks can fail: a client with another secret is refused.
func TestFakeAWSJSONRefusesABadSignature(t *testing.T) {
	f := &fakeAWSJSON{targetPrefix: "DynamoDB_20120810.", namespace: "com.amazonaws.dynamodb.v20120810"}
	url := f.start(t)
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDFAKE", "another-secret", ""),
		HTTPClient:  awsHTTPClient(), Retryer: quickRetryer()})
	require.ErrorContains(t, putItem(c), "InvalidSignatureException")
	assert.Zero(t, f.effects)
}
