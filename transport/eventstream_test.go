package transport_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// sse is one server-sent event.
func sse(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }

// chunk is one unnamed event: OpenAI's chat completion chunks.
func chunk(data string) string { return "data: " + data + "\n\n" }

// Anthropic's Messages stream, and OpenAI's chat completion and Responses
// streams, as the APIs send them.
var (
	msgStart    = sse("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}`)
	ping        = sse("ping", `{"type": "ping"}`)
	blockStart  = sse("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	textDelta   = sse("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`)
	msgStop     = sse("message_stop", `{"type":"message_stop"}`)
	anthropicOK = msgStart + ping + blockStart + textDelta + msgStop

	roleChunk = chunk(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`)
	textChunk = chunk(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}`)
	openaiOK  = roleChunk + textChunk + "data: [DONE]\n\n"

	created = sse("response.created", `{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[]}}`)
	itemAdd = sse("response.output_item.added", `{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"message","content":[]}}`)
)

// anthropicError is Anthropic's error event of type typ.
func anthropicError(typ string) string {
	return sse("error", `{"type":"error","error":{"type":"`+typ+`","message":"`+typ+`"}}`)
}

// sseServer answers each request with the next of its streams as
// text/event-stream, writing each part and flushing it; the last stream
// repeats. It records the requests' bodies.
type sseServer struct {
	streams [][]string
	mu      sync.Mutex
	bodies  []string
}

func (s *sseServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.bodies)
	s.bodies = append(s.bodies, string(body))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	for _, part := range s.streams[min(n, len(s.streams)-1)] {
		_, _ = io.WriteString(w, part)
		w.(http.Flusher).Flush()
	}
}

func (s *sseServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// An error event before any content is a failed attempt: a refusal is
// retried whatever the method, a failure of the server's only for a call
// that may be sent again. From the first content on, the stream is the
// caller's. Whatever the caller gets, it gets exactly as the server sent
// it, from the first byte.
func TestEventStreamBeforeContent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		key      bool // an Idempotency-Key
		streams  [][]string
		requests int // and the caller gets the last one's stream
	}{
		{"overloaded after message_start and ping", "POST", false,
			[][]string{{msgStart, ping, anthropicError("overloaded_error")}, {anthropicOK}}, 2},
		{"overloaded in the first write", "POST", false,
			[][]string{{msgStart + ping + anthropicError("overloaded_error")}, {anthropicOK}}, 2},
		{"rate limited", "POST", false,
			[][]string{{msgStart, anthropicError("rate_limit_error")}, {anthropicOK}}, 2},
		{"overloaded twice", "POST", false,
			[][]string{{anthropicError("overloaded_error")}, {msgStart, anthropicError("overloaded_error")}, {anthropicOK}}, 3},
		{"overloaded after content is the caller's", "POST", false,
			[][]string{{msgStart, blockStart, textDelta, anthropicError("overloaded_error")}, {anthropicOK}}, 1},
		{"api_error to an unkeyed POST is the caller's", "POST", false,
			[][]string{{msgStart, anthropicError("api_error")}, {anthropicOK}}, 1},
		{"api_error to a keyed POST", "POST", true,
			[][]string{{msgStart, anthropicError("api_error")}, {anthropicOK}}, 2},
		{"api_error to a GET", "GET", false,
			[][]string{{msgStart, anthropicError("api_error")}, {anthropicOK}}, 2},
		{"invalid_request_error is the caller's", "POST", true,
			[][]string{{msgStart, anthropicError("invalid_request_error")}, {anthropicOK}}, 1},
		{"a stream that ends before content", "POST", false,
			[][]string{{msgStart, ping}, {anthropicOK}}, 1},
		{"OpenAI: server_is_overloaded after the role chunk", "POST", false,
			[][]string{{roleChunk, chunk(`{"error":{"message":"Our servers are currently overloaded.","type":"service_unavailable_error","code":"server_is_overloaded"}}`)}, {openaiOK}}, 2},
		{"OpenAI: rate_limit_exceeded", "POST", false,
			[][]string{{chunk(`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)}, {openaiOK}}, 2},
		{"OpenAI: insufficient_quota is the caller's", "POST", false,
			[][]string{{chunk(`{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}`)}, {openaiOK}}, 1},
		{"OpenAI: server_error to an unkeyed POST is the caller's", "POST", false,
			[][]string{{roleChunk, chunk(`{"error":{"message":"boom","type":"server_error","code":null}}`)}, {openaiOK}}, 1},
		{"OpenAI: an error after content is the caller's", "POST", false,
			[][]string{{roleChunk, textChunk, chunk(`{"error":{"type":"service_unavailable_error","code":"server_is_overloaded"}}`)}, {openaiOK}}, 1},
		{"OpenAI Responses: an error event", "POST", false,
			[][]string{{created, sse("error", `{"type":"error","sequence_number":1,"error":{"type":"service_unavailable_error","code":"server_is_overloaded","message":"overloaded","param":null}}`)}, {created, itemAdd}}, 2},
		{"OpenAI Responses: a flat error event", "POST", false,
			[][]string{{created, sse("error", `{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null,"sequence_number":1}`)}, {created, itemAdd}}, 2},
		{"OpenAI Responses: response.failed", "POST", false,
			[][]string{{created, sse("response.failed", `{"type":"response.failed","sequence_number":2,"response":{"id":"resp_1","status":"failed","error":{"code":"server_is_overloaded","message":"overloaded"},"output":[]}}`)}, {created, itemAdd}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for proto, start := range bothProtocols(t) {
				t.Run(proto, func(t *testing.T) {
					s := &sseServer{streams: tc.streams}
					srv, base := start(s)
					client := &http.Client{Transport: transport.Chain(base, transport.Retry(fast(transport.RetryPolicy{})))}
					body := newTrackedBody(strings.NewReader(`{"model":"m","stream":true}`))
					req := newRequest(t, context.Background(), tc.method, srv.URL+"/v1/messages", body)
					if tc.key {
						req.Header.Set("Idempotency-Key", "k1")
					}
					before := snap(req)
					resp, err := client.Do(req)
					require.NoError(t, err)
					assert.Equal(t, strings.Join(tc.streams[tc.requests-1], ""), readAll(t, resp), "the stream, from its first byte, exactly")
					assert.Equal(t, tc.requests, s.requests())
					assert.Equal(t, tc.requests, transport.Attempts(resp))
					requireUnchanged(t, req, before)
					if tc.method == "POST" {
						requireClosedOnce(t, body)
						for _, b := range s.bodies {
							assert.Equal(t, `{"model":"m","stream":true}`, b, "every attempt sent the whole body")
						}
					}
				})
			}
		})
	}
}

// When the retries are spent, the last stream is the caller's, its error
// event in it; each retry is told of the error event that caused it.
func TestEventStreamExhausted(t *testing.T) {
	s := &sseServer{streams: [][]string{{msgStart, anthropicError("overloaded_error")}}}
	var seen []*transport.StreamError
	var reasons []string
	client, _ := newRetrying(t, fast(transport.RetryPolicy{MaxRetries: 2, OnRetry: func(e transport.RetryEvent) {
		seen = append(seen, e.Attempt.StreamError)
		reasons = append(reasons, e.Reason())
	}}))
	srv := streamURL(t, s)
	resp, err := client.Post(srv, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, msgStart+anthropicError("overloaded_error"), readAll(t, resp))
	assert.Equal(t, 3, s.requests())
	assert.Equal(t, 3, transport.Attempts(resp))
	want := &transport.StreamError{Event: "error", Type: "overloaded_error", Refusal: true}
	assert.Equal(t, []*transport.StreamError{want, want}, seen)
	assert.Equal(t, "200 OK, then overloaded_error before any content", reasons[0])
	assert.EqualError(t, want, "transport: event stream error before any content: overloaded_error (a refusal)")
}

// A Classifier sees the error event, and may decide: here, a keyless POST's
// api_error is retried, and a refusal is not.
func TestEventStreamClassifier(t *testing.T) {
	classify := func(a transport.Attempt) transport.Decision {
		switch {
		case a.StreamError == nil:
			return transport.Default
		case a.StreamError.Type == "api_error":
			return transport.RetryAttempt
		}
		return transport.StopRetrying
	}
	for _, tc := range []struct {
		first    string
		requests int
	}{
		{anthropicError("api_error"), 2},
		{anthropicError("overloaded_error"), 1},
	} {
		s := &sseServer{streams: [][]string{{msgStart, tc.first}, {anthropicOK}}}
		client, _ := newRetrying(t, fast(transport.RetryPolicy{Classifier: classify}))
		resp, err := client.Post(streamURL(t, s), "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		assert.Equal(t, strings.Join(s.streams[tc.requests-1], ""), readAll(t, resp))
		assert.Equal(t, tc.requests, s.requests(), tc.first)
	}
}

// What is not an event stream that could be retried is never read: another
// content type, an encoded stream, a call with no retries (the policy's or
// its own), the hold turned off.
func TestEventStreamUntouched(t *testing.T) {
	refused := msgStart + anthropicError("overloaded_error")
	serve := func(contentType, encoding string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			body := []byte(refused)
			if encoding != "" {
				w.Header().Set("Content-Encoding", encoding)
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				_, _ = zw.Write(body)
				_ = zw.Close()
				body = b.Bytes()
			}
			_, _ = w.Write(body)
		})
	}
	for _, tc := range []struct {
		name        string
		contentType string
		encoding    string
		policy      transport.RetryPolicy
		ctx         func(context.Context) context.Context
	}{
		{"text/plain", "text/plain", "", transport.RetryPolicy{}, nil},
		{"text/event-streams", "text/event-streams", "", transport.RetryPolicy{}, nil},
		{"gzip", "text/event-stream", "gzip", transport.RetryPolicy{}, nil},
		{"MaxRetries -1", "text/event-stream", "", transport.RetryPolicy{MaxRetries: -1}, nil},
		{"WithMaxRetries 0", "text/event-stream", "", transport.RetryPolicy{}, func(ctx context.Context) context.Context {
			return transport.WithMaxRetries(ctx, 0)
		}},
		{"EventStream.Limit -1", "text/event-stream", "", transport.RetryPolicy{EventStream: transport.EventStreamOptions{Limit: -1}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, attempts := newRetrying(t, fast(tc.policy))
			srv := streamURL(t, serve(tc.contentType, tc.encoding))
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			req := newRequest(t, ctx, http.MethodPost, srv, strings.NewReader(`{}`))
			req.Header.Set("Accept-Encoding", "gzip") // net/http then leaves the body encoded
			resp, err := client.Do(req)
			require.NoError(t, err)
			got := readAll(t, resp)
			if tc.encoding == "" {
				assert.Equal(t, refused, got)
			}
			assert.Equal(t, int32(1), attempts.n.Load())
		})
	}
}

// A status other than 200 follows the rules of its status, stream or not.
func TestEventStreamOnlyA200(t *testing.T) {
	var n int
	var mu sync.Mutex
	srv := streamURL(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if first {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = io.WriteString(w, msgStart+anthropicError("overloaded_error"))
	}))
	client, attempts := newRetrying(t, fast(transport.RetryPolicy{}))
	resp, err := client.Post(srv, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, msgStart+anthropicError("overloaded_error"), readAll(t, resp))
	assert.Equal(t, int32(1), attempts.n.Load())
}

// Through NewClient, with its timeouts: the retried stream arrives whole.
func TestEventStreamThroughNewClient(t *testing.T) {
	s := &sseServer{streams: [][]string{{msgStart, ping, anthropicError("overloaded_error")}, {anthropicOK}}}
	url := streamURL(t, s)
	base := pooledBase(t)
	client := transport.NewClientWith(transport.ClientOptions{Base: base, Retry: fast(transport.RetryPolicy{})})
	resp, err := client.Post(url, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	assert.Equal(t, anthropicOK, readAll(t, resp))
	assert.Equal(t, 2, s.requests())
}

// streamURL starts a server of h over HTTP/1.1 for the test and returns
// its URL.
func streamURL(t *testing.T, h http.Handler) string {
	t.Helper()
	srv, _ := bothProtocols(t)["HTTP/1.1"](h)
	return srv.URL
}
