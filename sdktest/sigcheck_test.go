package sdktest

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// The fake's checks can fail: a client with another secret, or a body that
// differs from its signed hash, is refused.
func TestFakeS3RefusesWhatS3Refuses(t *testing.T) {
	f, url := newFakeS3(t)
	client := newS3("another-secret", url, fastClient(transport.ClientOptions{}))
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("key"), Body: bytes.NewReader(payload(10)),
	})
	require.ErrorContains(t, err, "SignatureDoesNotMatch")
	seen := f.seen()
	require.Len(t, seen, 1, "a 403 is not retried")
	require.ErrorContains(t, seen[0].sigErr, "signature mismatch")
	t.Logf("payload hash header: %s", seen[0].contentSHA256)
}
