package sdktest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

func newFakeOpenAI() *fakeLLM {
	chunk := func(s string) string {
		return `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"content":"` + s + `"}}]}` + "\n\n"
	}
	return &fakeLLM{
		path: "/chat/completions", auth: "Authorization", authValue: "Bearer sk-test",
		ok: `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-test",` +
			`"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hello"}}]}`,
		okStream: chunk("hel") + chunk("lo") + "data: [DONE]\n\n",
		cutAt:    chunk("hel"),
		errorBody: func(kind string) string {
			return `{"error":{"message":"` + kind + `","type":"` + kind + `"}}`
		},
	}
}

// openaiRecipe is docs/sdks.md's recipe: the SDK's own retries off, rtchain's
// client under it.
func openaiRecipe(url string, hc *http.Client) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(url), option.WithAPIKey("sk-test"),
		option.WithMaxRetries(0), option.WithHTTPClient(hc))
	return &c
}

// openaiAlone is the SDK as it ships: its own retry loop, a plain client.
func openaiAlone(url string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(url), option.WithAPIKey("sk-test"),
		option.WithHTTPClient(&http.Client{}))
	return &c
}

var chatParams = openai.ChatCompletionNewParams{
	Model:    "gpt-test",
	Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("say hello")},
}

// What the SDK alone gets through, the recipe gets through, in as many
// requests or fewer; what it must not retry, the recipe does not either.
func TestOpenAIRecipeIsNeverWorse(t *testing.T) {
	for _, tc := range []struct {
		script   []string
		ok       bool
		requests int // through the recipe
	}{
		{[]string{"429"}, true, 2},
		{[]string{"429", "429", "429"}, true, 4},
		{[]string{"503"}, true, 2},
		{[]string{"500 retry"}, true, 2},
		{[]string{"429 no"}, false, 1},
	} {
		t.Run(strings.Join(tc.script, ","), func(t *testing.T) {
			f := newFakeOpenAI()
			url := f.start(t, tc.script...)
			resp, err := openaiRecipe(url, fastClient(transport.ClientOptions{})).Chat.Completions.New(context.Background(), chatParams)
			if !tc.ok {
				var apiErr *openai.Error
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
				assert.Equal(t, 1, f.count(), "x-should-retry: false is honoured")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "hello", resp.Choices[0].Message.Content)
			assert.Equal(t, tc.requests, f.count())
			for _, b := range f.bodies {
				assert.Equal(t, f.bodies[0], b, "every attempt sent the whole request")
			}

			alone := newFakeOpenAI()
			aloneURL := alone.start(t, tc.script...)
			_, err = openaiAlone(aloneURL).Chat.Completions.New(context.Background(), chatParams)
			if len(tc.script) <= 2 { // the SDK alone retries twice
				require.NoError(t, err, "the SDK alone gets through too")
			}
		})
	}
}

// An unmarked 500 to a completion may have been processed (and billed):
// the recipe returns it as the SDK does with its retries off, after one
// request.
func TestOpenAIRecipeSendsAnUnmarked500Once(t *testing.T) {
	f := newFakeOpenAI()
	url := f.start(t, "500")
	_, err := openaiRecipe(url, fastClient(transport.ClientOptions{})).Chat.Completions.New(context.Background(), chatParams)
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)
	assert.Equal(t, 1, f.count())
}

// completionText reads a streamed completion to its end and returns its
// text and the stream's error.
func completionText(c *openai.Client) (string, error) {
	stream := c.Chat.Completions.NewStreaming(context.Background(), chatParams)
	defer stream.Close()
	var text string
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text += ch.Delta.Content
		}
	}
	return text, stream.Err()
}

// A streamed completion after a 429: the stream arrives whole.
func TestOpenAIRecipeStreamsAfterARefusal(t *testing.T) {
	f := newFakeOpenAI()
	url := f.start(t, "429")
	text, err := completionText(openaiRecipe(url, fastClient(transport.ClientOptions{})))
	require.NoError(t, err)
	assert.Equal(t, "hello", text)
	assert.Equal(t, 2, f.count())
}

// A stream that breaks mid-way is never replayed silently: the caller gets
// the part that arrived and an error, and the server saw one request.
func TestOpenAIRecipeNeverReplaysABrokenStream(t *testing.T) {
	f := newFakeOpenAI()
	url := f.start(t, "cut")
	text, err := completionText(openaiRecipe(url, fastClient(transport.ClientOptions{})))
	require.Error(t, err)
	assert.False(t, errors.Is(err, context.Canceled))
	assert.Equal(t, "hel", text, "the part that arrived, and nothing replayed")
	assert.Equal(t, 1, f.count())
}

// The recipe bounds attempts: rtchain's retries are the only ones, so that
// a refusing server sees 1 + MaxRetries requests, not their product with
// the SDK's.
func TestOpenAIRecipeBoundsAttempts(t *testing.T) {
	f := newFakeOpenAI()
	url := f.start(t, "503", "503", "503", "503", "503", "503", "503", "503", "503", "503", "503", "503")
	_, err := openaiRecipe(url, fastClient(transport.ClientOptions{})).Chat.Completions.New(context.Background(), chatParams)
	require.Error(t, err)
	assert.Equal(t, 1+transport.DefaultMaxRetries, f.count())
	for _, n := range f.retries {
		assert.Equal(t, "0", n, "the SDK itself sent each request once")
	}
}
