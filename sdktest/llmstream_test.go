package sdktest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// streamingLLM is a fakeLLM whose streams can fail after their 200, as the
// APIs' do when they are overloaded: each request, once it passes the
// fake's checks, takes the next step of the script:
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
type streamingLLM struct {
	*fakeLLM
	before   string // the events before content: message_start and ping, or OpenAI's role chunk
	content  string // the start of the content
	refusal  string // the error events
	failure  string
	mu       sync.Mutex
	script   []string
	requests int
}

func (f *streamingLLM) start(t *testing.T, script ...string) string {
	t.Helper()
	f.script = script
	return serve(t, f)
}

func (f *streamingLLM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *streamingLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests++
	step := ""
	if len(f.script) > 0 {
		step, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	var req struct {
		Model    string            `json:"model"`
		Messages []json.RawMessage `json:"messages"`
		Stream   bool              `json:"stream"`
	}
	var events string
	switch step {
	case "refused":
		events = f.before + f.refusal
	case "failed":
		events = f.before + f.failure
	case "late":
		events = f.before + f.content + f.refusal
	}
	if events == "" || r.Header.Get(f.auth) != f.authValue || !hasAll(r.Header, f.required) ||
		json.Unmarshal(body, &req) != nil || req.Model == "" || len(req.Messages) == 0 || !req.Stream {
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.fakeLLM.ServeHTTP(w, r) // its checks and answers
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, part := range strings.SplitAfter(events, "\n\n") { // an event at a time, as the APIs send them
		_, _ = io.WriteString(w, part)
		w.(http.Flusher).Flush()
	}
}

func newStreamingAnthropic() *streamingLLM {
	event := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	errorEvent := func(typ string) string {
		return event("error", `{"type":"error","error":{"type":"`+typ+`","message":"`+typ+`"}}`)
	}
	return &streamingLLM{fakeLLM: newFakeAnthropic(),
		before: event("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":1}}}`) +
			event("ping", `{"type": "ping"}`),
		content: event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) +
			event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hel"}}`),
		refusal: errorEvent("overloaded_error"),
		failure: errorEvent("api_error"),
	}
}

func newStreamingOpenAI() *streamingLLM {
	chunk := func(data string) string { return "data: " + data + "\n\n" }
	return &streamingLLM{fakeLLM: newFakeOpenAI(),
		before:  chunk(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`),
		content: chunk(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"content":"hel"},"logprobs":null,"finish_reason":null}]}`),
		refusal: chunk(`{"error":{"message":"Our servers are currently overloaded. Please try again later.","type":"service_unavailable_error","param":null,"code":"server_is_overloaded"}}`),
		failure: chunk(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`),
	}
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
		fake              func() *streamingLLM
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
