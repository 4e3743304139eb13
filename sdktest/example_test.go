package sdktest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-github/v75/github"

	"github.com/rtchain/rtchain/transport"
)

// The AWS SDK for Go v2 over rtchain: the SDK keeps its own retry loop
// (it re-signs every attempt and reads AWS's error codes, such as
// DynamoDB's throttles, which are 400s), and rtchain's chain goes under it
// with its retries off, so that attempts are never multiplied. A DynamoDB
// PutItem meets ProvisionedThroughputExceededException, then a 500, and
// gets through, signed anew each time, within the SDK's own bound (4
// attempts for DynamoDB).
func Example_aws() {
	fake := &fakeAWSJSON{targetPrefix: "DynamoDB_20120810.", namespace: "com.amazonaws.dynamodb.v20120810",
		throttleCode: "ProvisionedThroughputExceededException", script: []string{"throttle", "500"}}
	srv := httptest.NewServer(fake) // stands for DynamoDB
	defer srv.Close()

	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL), // not needed against AWS itself
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", fakeSecret, ""),
		HTTPClient: transport.NewClientWith(transport.ClientOptions{
			Retry: transport.RetryPolicy{MaxRetries: -1}, // the SDK retries; rtchain must not retry below it
		}),
	})
	_, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String("orders"),
		Item:      map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o-1"}},
	})
	fmt.Println("error:", err)
	for _, r := range fake.seen() {
		fmt.Println(r.target, r.sdkRequest, "signature ok:", r.sigErr == nil)
	}
	fmt.Println("items written:", fake.effects)
	// Output:
	// error: <nil>
	// DynamoDB_20120810.PutItem attempt=1; max=4 signature ok: true
	// DynamoDB_20120810.PutItem attempt=2; max=4 signature ok: true
	// DynamoDB_20120810.PutItem attempt=3; max=4 signature ok: true
	// items written: 1
}

// go-github with rtchain: reads are retried; a create whose answer was lost
// is not (GitHub ignores Idempotency-Key), so it happens once and the
// caller sees the error.
func Example_github() {
	fake := &fakeGitHub{script: []string{"", "503"}}
	srv := httptest.NewServer(fake) // stands for api.github.com
	defer srv.Close()

	hc := transport.NewClient()
	gh := github.NewClient(hc).WithAuthToken("ghp_fake")
	gh.BaseURL, _ = url.Parse(srv.URL + "/") // not needed against GitHub itself

	ctx := context.Background()
	created, _, err := gh.Issues.Create(ctx, "o", "r", &github.IssueRequest{Title: github.Ptr("hello")})
	fmt.Println("created:", created.GetNumber(), err)
	issue, _, err := gh.Issues.Get(ctx, "o", "r", 1) // answered 503, then 200
	fmt.Println("read:", issue.GetTitle(), err)
	// Output:
	// created: 1 <nil>
	// read: hello <nil>
}
