package sdktest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// newS3 runs rtchain's retries under S3 with the SDK's own off
// (aws.NopRetryer): safe for object reads and writes, which are GETs and
// PUTs. docs/sdks.md's AWS recipe keeps the SDK's retries instead (see
// awsHTTPClient), for every service; these tests show rtchain's own retries
// and body replay keep S3's signatures and payloads whole. It signs with
// secret.
func newS3(secret, url string, hc *http.Client) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", secret, ""),
		HTTPClient:   hc,
		Retryer:      aws.NopRetryer{},
	})
}

// fastClient is NewClient with short waits, so that the tests are quick;
// everything else is NewClient's default.
func fastClient(o transport.ClientOptions) *http.Client {
	o.Retry.BaseDelay, o.Retry.MaxDelay = time.Millisecond, 5*time.Millisecond
	return transport.NewClientWith(o)
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestS3RetriedBelowTheSDK(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []string
		size   int
	}{
		{"PutObject, 503 SlowDown then success", []string{"503"}, 1000},
		{"PutObject, 500 then success", []string{"500"}, 1000},
		{"PutObject 2 MiB, 503 SlowDown twice then success", []string{"503", "503"}, 2 << 20},
		{"PutObject 8 MiB, 500 then success", []string{"500"}, 8 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeS3(t, tc.script...)
			client := newS3(f.secret, url, fastClient(transport.ClientOptions{}))
			data := payload(tc.size)
			_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader(data),
			})
			require.NoError(t, err)
			f.signedAttempts(t, len(tc.script)+1, tc.size)
			assert.True(t, bytes.Equal(data, f.objects["/bucket/key"]), "the stored bytes are the caller's")
			assert.Equal(t, 1, f.puts)
		})
	}
	t.Run("UploadPart 6 MiB (multipart), 500 then success", func(t *testing.T) {
		f, url := newFakeS3(t, "500")
		client := newS3(f.secret, url, fastClient(transport.ClientOptions{}))
		data := payload(6 << 20)
		_, err := client.UploadPart(context.Background(), &s3.UploadPartInput{
			Bucket: aws.String("bucket"), Key: aws.String("big"), UploadId: aws.String("upload-1"),
			PartNumber: aws.Int32(1), Body: bytes.NewReader(data),
		})
		require.NoError(t, err)
		f.signedAttempts(t, 2, len(data))
		assert.True(t, bytes.Equal(data, f.objects["/bucket/big"]))
	})
	t.Run("GetObject, 503 then the object", func(t *testing.T) {
		f, url := newFakeS3(t, "", "503")
		client := newS3(f.secret, url, fastClient(transport.ClientOptions{}))
		data := payload(5000)
		_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader(data),
		})
		require.NoError(t, err)
		out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("key")})
		require.NoError(t, err)
		got, err := io.ReadAll(out.Body)
		require.NoError(t, err)
		require.NoError(t, out.Body.Close())
		assert.Equal(t, data, got)
		assert.Len(t, f.seen(), 3)
	})
}

// A PutObject whose answer is lost after S3 stored the object is sent
// again (PUT replaces the object: one object, the caller's bytes), and the
// call succeeds.
func TestS3LostAnswer(t *testing.T) {
	f, url := newFakeS3(t, "lost")
	client := newS3(f.secret, url, fastClient(transport.ClientOptions{}))
	data := payload(300_000)
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader(data),
	})
	require.NoError(t, err)
	assert.Len(t, f.objects, 1)
	assert.True(t, bytes.Equal(data, f.objects["/bucket/key"]))
	for _, r := range f.seen() {
		require.NoError(t, r.sigErr)
	}
}

// Amz-Sdk-Request is signed: rtchain sends it as the SDK signed it
// ("attempt=1; max=1" under NopRetryer) on every attempt, since changing it
// would break the signature. rtchain's own attempt header, added below the
// signer, is not signed and tells the server which attempt it sees.
func TestS3AttemptHeaders(t *testing.T) {
	f, url := newFakeS3(t, "503", "500")
	client := newS3(f.secret, url, fastClient(transport.ClientOptions{
		Headers: transport.HeaderOptions{AttemptHeader: "Retry-Attempt"},
	}))
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader(payload(100)),
	})
	require.NoError(t, err)
	seen := f.seen()
	require.Len(t, seen, 3)
	for i, r := range seen {
		require.NoError(t, r.sigErr)
		assert.Equal(t, "attempt=1; max=1", r.sdkRequest)
		assert.Equal(t, seen[0].invocationID, r.invocationID, "one invocation")
		assert.Equal(t, []string{"1", "2", "3"}[i], r.retryAttempt)
	}
}
