package sdktest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

func newFakeAnthropic() *fakeLLM {
	event := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	delta := func(s string) string {
		return event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`+s+`"}}`)
	}
	start := event("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":0}}}`) +
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) +
		delta("hel")
	return &fakeLLM{
		path: "/v1/messages", auth: "Authorization", authValue: "Bearer sk-ant-test", required: []string{"Anthropic-Version"},
		ok: `{"id":"msg_1","type":"message","role":"assistant","model":"claude-test",` +
			`"content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}`,
		okStream: start + delta("lo") +
			event("content_block_stop", `{"type":"content_block_stop","index":0}`) +
			event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`) +
			event("message_stop", `{"type":"message_stop"}`),
		cutAt: start,
		errorBody: func(kind string) string {
			return `{"type":"error","error":{"type":"` + kind + `","message":"` + kind + `"}}`
		},
	}
}

// anthropicRecipe is docs/sdks.md's recipe: the SDK's own retries off,
// rtchain's client under it.
func anthropicRecipe(url string, hc *http.Client) *anthropic.Client {
	c := anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey("sk-ant-test"),
		option.WithMaxRetries(0), option.WithHTTPClient(hc))
	return &c
}

func anthropicAlone(url string) *anthropic.Client {
	c := anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey("sk-ant-test"),
		option.WithHTTPClient(&http.Client{}))
	return &c
}

var messageParams = anthropic.MessageNewParams{
	Model:     "claude-test",
	MaxTokens: 64,
	Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("say hello"))},
}

func messageText(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// What the SDK alone gets through, the recipe gets through; 529 (the API
// overloaded) is a refusal, retried as 503 is.
func TestAnthropicRecipeIsNeverWorse(t *testing.T) {
	for _, tc := range []struct {
		script   []string
		ok       bool
		requests int
	}{
		{[]string{"429"}, true, 2},
		{[]string{"529"}, true, 2},
		{[]string{"529", "503"}, true, 3},
		{[]string{"500 retry"}, true, 2},
		{[]string{"429 no"}, false, 1},
		// An unmarked 500 may have been processed: sent once, as
		// rtchain sends every unkeyed POST that may have had an effect.
		// The API marks the 5xx worth a retry with x-should-retry.
		{[]string{"500"}, false, 1},
	} {
		t.Run(strings.Join(tc.script, ","), func(t *testing.T) {
			f := newFakeAnthropic()
			url := f.start(t, tc.script...)
			msg, err := anthropicRecipe(url, fastClient(transport.ClientOptions{})).Messages.New(context.Background(), messageParams)
			assert.Equal(t, tc.requests, f.count())
			if !tc.ok {
				var apiErr *anthropic.Error
				require.ErrorAs(t, err, &apiErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "hello", messageText(msg))
			for _, b := range f.bodies {
				assert.Equal(t, f.bodies[0], b, "every attempt sent the whole request")
			}

			alone := newFakeAnthropic()
			_, err = anthropicAlone(alone.start(t, tc.script...)).Messages.New(context.Background(), messageParams)
			require.NoError(t, err, "the SDK alone gets through too")
		})
	}
}

// streamText reads a message stream to its end and returns its text.
func streamText(t *testing.T, c *anthropic.Client) (string, error) {
	t.Helper()
	stream := c.Messages.NewStreaming(context.Background(), messageParams)
	defer stream.Close()
	var text string
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "content_block_delta" {
			text += ev.Delta.Text
		}
	}
	return text, stream.Err()
}

// A streamed message after a 529: the stream arrives whole.
func TestAnthropicRecipeStreamsAfterARefusal(t *testing.T) {
	f := newFakeAnthropic()
	text, err := streamText(t, anthropicRecipe(f.start(t, "529"), fastClient(transport.ClientOptions{})))
	require.NoError(t, err)
	assert.Equal(t, "hello", text)
	assert.Equal(t, 2, f.count())
}

// A stream that breaks mid-way is never replayed silently.
func TestAnthropicRecipeNeverReplaysABrokenStream(t *testing.T) {
	f := newFakeAnthropic()
	text, err := streamText(t, anthropicRecipe(f.start(t, "cut"), fastClient(transport.ClientOptions{})))
	require.Error(t, err)
	assert.Equal(t, "hel", text, "the part that arrived, and nothing replayed")
	assert.Equal(t, 1, f.count())
}
