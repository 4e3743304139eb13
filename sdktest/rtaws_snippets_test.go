package sdktest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rtchain/rtchain/rtaws"
	"github.com/rtchain/rtchain/transport"
)

// docs/sdks.md's AWS recipe, compiled (see docs_snippets_test.go).
var _ = snippetRTAWS

func snippetRTAWS(cfg aws.Config) *dynamodb.Client {
	cfg.Retryer = rtaws.Retryer(rtaws.Options{})            // or config.WithRetryer(rtaws.Retryer(...))
	cfg.APIOptions = append(cfg.APIOptions, rtaws.AddScope) // or config.WithAPIOptions
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = transport.NewClientWith(transport.ClientOptions{
			Retry: transport.RetryPolicy{MaxRetries: -1}, // the SDK retries
		})
	})
	return client
}
