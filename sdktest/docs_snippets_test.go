package sdktest

import (
	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-github/v75/github"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/rtchain/rtchain/transport"
)

// The recipes' snippets (docs/sdks.md), compiled; see
// transport/docs_snippets_test.go. The tests beside this file run the same
// recipes against fakes.
var _ = []any{snippetLLM, snippetDynamoDB, snippetGitHub}

func snippetLLM(key string) (openai.Client, anthropic.Client) {
	hc := transport.NewClient()
	oa := openai.NewClient(option.WithAPIKey(key), option.WithMaxRetries(0), option.WithHTTPClient(hc))
	an := anthropic.NewClient(anthropicoption.WithAPIKey(key), anthropicoption.WithMaxRetries(0), anthropicoption.WithHTTPClient(hc))
	return oa, an
}

func snippetDynamoDB(cfg aws.Config) *dynamodb.Client {
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = transport.NewClientWith(transport.ClientOptions{
			Retry: transport.RetryPolicy{MaxRetries: -1}, // the SDK retries
		})
	})
	return client
}

func snippetGitHub(token string) *github.Client {
	hc := transport.NewClient()
	gh := github.NewClient(hc).WithAuthToken(token)
	return gh
}
