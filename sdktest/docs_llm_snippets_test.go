package sdktest

import (
	"context"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/rtchain/rtchain/transport"
)

// docs/sdks.md's snippets of per-call control for an LLM call, compiled
// (see docs_snippets_test.go); TestLLMStreamRepeatable runs the same.
var _ = snippetRepeatable

func snippetRepeatable(ctx context.Context, an anthropic.Client, params anthropic.MessageNewParams) *ssestream.Stream[anthropic.MessageStreamEventUnion] {
	ctx = transport.WithRepeatable(ctx) // this completion may be sent twice: retried after an api_error too
	stream := an.Messages.NewStreaming(ctx, params)
	return stream
}
