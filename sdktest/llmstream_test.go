package sdktest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// A streaming fake is a fakeLLM whose streams can fail after their 200, as
// the APIs' do when they are overloaded: each request, once it passes the
// fake's checks, takes the next step of the script, and a streamed request
// takes these steps of its own:
//
//	"refused"  200, the events before content, then an error event the API
//	           documents as a refusal (Anthropic's overloaded_error or
//	           rate_limit_error, OpenAI's server_is_overloaded)
//	"failed"   the same with a failure of the server's (api_error,
//	           server_error): it may have begun the work
//	"late"     200, the start of the content, then the refusal: the
//	           caller has content by then
//
// Any other step, and every request once the script has run out, is the
// fakeLLM's own (an empty script: ok, or okStream).
func streaming(f *fakeLLM, before, content, refusal, failure string) *fakeLLM {
	f.streamed = func(step string) string {
		switch step {
		case "refused":
			return before + refusal
		case "failed":
			return before + failure
		case "late":
			return before + content + refusal
		}
		return ""
	}
	return f
}

func newStreamingAnthropic() *fakeLLM {
	event := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	errorEvent := func(typ string) string {
		return event("error", `{"type":"error","error":{"type":"`+typ+`","message":"`+typ+`"}}`)
	}
	return streaming(newFakeAnthropic(),
		event("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":1}}}`)+
			event("ping", `{"type": "ping"}`),
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)+
			event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hel"}}`),
		errorEvent("overloaded_error"),
		errorEvent("api_error"))
}

func newStreamingOpenAI() *fakeLLM {
	chunk := func(data string) string { return "data: " + data + "\n\n" }
	return streaming(newFakeOpenAI(),
		chunk(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`),
		chunk(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"content":"hel"},"logprobs":null,"finish_reason":null}]}`),
		chunk(`{"error":{"message":"Our servers are currently overloaded. Please try again later.","type":"service_unavailable_error","param":null,"code":"server_is_overloaded"}}`),
		chunk(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`))
}

// A stream that the API refuses after its 200, before any content, is sent
// again through the recipe (NewClient, the SDK's retries off) and arrives
// whole; the SDK alone, with its own retries on, cannot retry it (it saw a
// 200) and fails. A refusal after content, or a failure of the server's to
// a call that may have begun its work, reaches the caller once, after one
// request. OpenAI's role chunk carries no content: the refusal after it is
// retried.
func TestLLMStreamRefusedBeforeContent(t *testing.T) {
	for _, sdk := range []struct {
		name              string
		fake              func() *fakeLLM
		read              func(url string, hc *http.Client) (string, error)
		refusal, failure  string // as the SDK's error says them
		withSDKAloneFails func(url string) error
	}{
		{"anthropic-sdk-go", newStreamingAnthropic,
			func(url string, hc *http.Client) (string, error) { return streamText(t, anthropicRecipe(url, hc)) },
			"overloaded_error", "api_error",
			func(url string) error { _, err := streamText(t, anthropicAlone(url)); return err }},
		{"openai-go", newStreamingOpenAI,
			func(url string, hc *http.Client) (string, error) { return completionText(openaiRecipe(url, hc)) },
			"server_is_overloaded", "server_error",
			func(url string) error { _, err := completionText(openaiAlone(url)); return err }},
	} {
		for _, tc := range []struct {
			script   []string
			text     string
			err      string // "" for none
			requests int
		}{
			{[]string{"refused"}, "hello", "", 2},
			{[]string{"refused", "refused", "refused"}, "hello", "", 4},
			{[]string{"late"}, "hel", sdk.refusal, 1},
			{[]string{"failed"}, "", sdk.failure, 1},
		} {
			t.Run(sdk.name+"/"+strings.Join(tc.script, ","), func(t *testing.T) {
				f := sdk.fake()
				text, err := sdk.read(f.start(t, tc.script...), transport.NewClient())
				assert.Equal(t, tc.text, text)
				assert.Equal(t, tc.requests, f.count())
				if tc.err == "" {
					require.NoError(t, err)
					return
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
			})
		}
		t.Run(sdk.name+"/the SDK alone", func(t *testing.T) {
			f := sdk.fake()
			require.Error(t, sdk.withSDKAloneFails(f.start(t, "refused")), "it does not retry a stream refused after its 200")
			assert.Equal(t, 1, f.count())
		})
	}
}

// A completion the caller would rather pay for twice than lose is made with
// transport.WithRepeatable: a failure event before content (api_error,
// server_error) is then retried too, as a keyed call's 500 is.
func TestLLMStreamRepeatable(t *testing.T) {
	an := newStreamingAnthropic()
	stream := anthropicRecipe(an.start(t, "failed"), transport.NewClient()).Messages.NewStreaming(
		transport.WithRepeatable(t.Context()), messageParams)
	var text string
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "content_block_delta" {
			text += ev.Delta.Text
		}
	}
	require.NoError(t, stream.Err())
	require.NoError(t, stream.Close())
	assert.Equal(t, "hello", text)
	assert.Equal(t, 2, an.count())

	oa := newStreamingOpenAI()
	chunks := openaiRecipe(oa.start(t, "failed"), transport.NewClient()).Chat.Completions.NewStreaming(
		transport.WithRepeatable(t.Context()), chatParams)
	text = ""
	for chunks.Next() {
		for _, ch := range chunks.Current().Choices {
			text += ch.Delta.Content
		}
	}
	require.NoError(t, chunks.Err())
	require.NoError(t, chunks.Close())
	assert.Equal(t, "hello", text)
	assert.Equal(t, 2, oa.count())
}
