package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-github/v75/github"

	"github.com/rtchain/rtchain/transport"
)

// The AWS SDK for Go v2 with rtchain doing the retries: the SDK's own
// retryer off, rtchain's client as its HTTPClient. A 2 MiB PutObject meets
// a 503 SlowDown and is sent again, signature and payload hash intact.
func Example_s3() {
	fake := makeFakeS3("503")
	srv := httptest.NewServer(fake) // stands for S3
	defer srv.Close()

	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL), // not needed against AWS itself
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", fakeSecret, ""),
		HTTPClient:   transport.NewClient(),
		Retryer:      aws.NopRetryer{}, // rtchain retries; the SDK must not retry on top
	})
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"),
		Key:    aws.String("2mib"),
		Body:   bytes.NewReader(make([]byte, 2<<20)),
	})
	fmt.Println("error:", err)
	for _, r := range fake.seen() {
		fmt.Println(r.method, r.path, r.bodyLen, "bytes, signature ok:", r.sigErr == nil)
	}
	// Output:
	// error: <nil>
	// PUT /bucket/2mib 2097152 bytes, signature ok: true
	// PUT /bucket/2mib 2097152 bytes, signature ok: true
}

// go-github with rtchain: reads are retried; a create whose answer was lost
// is not (GitHub ignores Idempotency-Key), so it happens once and the
// caller sees the error. No http.Client.Timeout: each call's context bounds
// it (see githubClient for why).
func Example_github() {
	fake := &fakeGitHub{script: []string{"", "503"}}
	srv := httptest.NewServer(fake) // stands for api.github.com
	defer srv.Close()

	hc := transport.NewClientWith(transport.ClientOptions{Timeout: -1})
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
