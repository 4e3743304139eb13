package transport

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// What each event is to the hold, as the APIs send them.
func TestClassifyEvent(t *testing.T) {
	refusal := func(event, typ string) *StreamError { return &StreamError{Event: event, Type: typ, Refusal: true} }
	failure := func(event, typ string) *StreamError { return &StreamError{Event: event, Type: typ} }
	for _, tc := range []struct {
		name, data string
		kind       eventKind
		err        *StreamError
	}{
		{"ping", `{"type": "ping"}`, eventNone, nil},
		{"message_start", `{"type":"message_start","message":{"content":[]}}`, eventNone, nil},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, eventContent, nil},
		{"content_block_delta", `{"type":"content_block_delta"}`, eventContent, nil},
		{"response.created", `{"type":"response.created"}`, eventNone, nil},
		{"response.in_progress", `{}`, eventNone, nil},
		{"response.output_text.delta", `{"delta":"Hi"}`, eventContent, nil},
		{"something new", `{}`, eventContent, nil},

		{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, eventError, refusal("error", "overloaded_error")},
		{"error", `{"type":"error","error":{"type":"rate_limit_error"}}`, eventError, refusal("error", "rate_limit_error")},
		{"error", `{"type":"error","error":{"type":"api_error"}}`, eventError, failure("error", "api_error")},
		{"error", `{"type":"error","error":{"type":"timeout_error"}}`, eventError, failure("error", "timeout_error")},
		{"error", `{"type":"error","error":{"type":"invalid_request_error"}}`, eventError, failure("error", "invalid_request_error")},
		{"error", `{"type":"error","error":{"type":"service_unavailable_error","code":"server_is_overloaded"}}`, eventError, refusal("error", "server_is_overloaded")},
		{"error", `{"type":"error","code":"slow_down","message":"x"}`, eventError, refusal("error", "slow_down")},
		{"error", `{"type":"error","code":"server_error"}`, eventError, failure("error", "server_error")},
		{"error", `not json`, eventError, failure("error", "")},
		{"error", `{"error":"a string"}`, eventError, failure("error", "")},
		{"response.failed", `{"response":{"error":{"code":"rate_limit_exceeded"}}}`, eventError, refusal("response.failed", "rate_limit_exceeded")},
		{"response.failed", `{"response":{"error":{"code":"invalid_prompt"}}}`, eventError, failure("response.failed", "invalid_prompt")},

		{"", `{"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`, eventNone, nil},
		{"", `{"choices":[],"prompt_filter_results":[{"prompt_index":0}]}`, eventNone, nil},
		{"message", `{"choices":[{"index":0,"delta":{"role":"assistant"}}]}`, eventNone, nil},
		{"", `{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`, eventContent, nil},
		{"", `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1"}]}}]}`, eventContent, nil},
		{"", `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, eventContent, nil},
		{"", `{"choices":[{"index":0,"text":"Hi"}]}`, eventContent, nil},
		{"", `{"choices":[{"index":0,"delta":"odd"}]}`, eventContent, nil},
		{"", `{"choices":[],"usage":{"total_tokens":3}}`, eventContent, nil},
		{"", `{"id":"no choices"}`, eventContent, nil},
		{"", `[DONE]`, eventContent, nil},
		{"", `{"error":{"type":"requests","code":"rate_limit_exceeded"}}`, eventError, refusal("", "rate_limit_exceeded")},
		{"", `{"error":{"type":"insufficient_quota","code":"insufficient_quota"}}`, eventError, failure("", "insufficient_quota")},
		{"", `{"error":{"type":"server_error","code":null}}`, eventError, failure("", "server_error")},
		{"", `{"error":null,"choices":[{"delta":{"role":"assistant"}}]}`, eventNone, nil},
	} {
		t.Run(tc.name+" "+tc.data, func(t *testing.T) {
			kind, err := classifyEvent(tc.name, []byte(tc.data))
			assert.Equal(t, tc.kind, kind)
			assert.Equal(t, tc.err, err)
		})
	}
}

// The scanner reads the text/event-stream format: any line ending, fields
// with and without a space after the colon, comments, data over several
// lines, events without data; and it finds the same event whatever the
// pieces the stream arrives in.
func TestEventScanner(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream string
		kind   eventKind
		typ    string
		off    int // where the scan stopped; -1 for the end
	}{
		{"LF", "event: ping\ndata: {}\n\nevent: error\ndata: {\"error\":{\"type\":\"overloaded_error\"}}\n\n", eventError, "overloaded_error", -1},
		{"CRLF", "event: ping\r\ndata: {}\r\n\r\nevent: error\r\ndata: {\"error\":{\"type\":\"overloaded_error\"}}\r\n\r\n", eventError, "overloaded_error", -2},
		{"CR", "event: ping\rdata: {}\r\revent: error\rdata: {\"error\":{\"type\":\"overloaded_error\"}}\r\r", eventError, "overloaded_error", -1},
		{"no space", "event:error\ndata:{\"error\":{\"type\":\"api_error\"}}\n\n", eventError, "api_error", -1},
		{"comments and retry", ": keep-alive\nretry: 100\n\n: again\n\n", eventNone, "", -1},
		{"an event without data", "event: content_block_delta\n\n", eventNone, "", -1},
		{"data over lines", "event: error\ndata: {\"error\":\ndata: {\"type\":\"rate_limit_error\"}}\n\n", eventError, "rate_limit_error", -1},
		{"content first", "event: content_block_start\ndata: {}\n\nevent: error\ndata: {}\n\n", eventContent, "", len("event: content_block_start\ndata: {}\n\n")},
		{"an unfinished event", "event: error\ndata: {\"error\":{\"type\":\"overloaded_error\"}}\n", eventNone, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var whole eventScanner
			kind, err := whole.scan([]byte(tc.stream))
			assert.Equal(t, tc.kind, kind)
			if tc.kind == eventError {
				assert.Equal(t, tc.typ, err.Type)
			}
			want := tc.off
			if want < 0 {
				want = len(tc.stream) + tc.off + 1
			}
			assert.Equal(t, want, whole.off)
			for cut := range len(tc.stream) {
				var s eventScanner
				k, e := s.scan([]byte(tc.stream[:cut]))
				if k == eventNone {
					k, e = s.scan([]byte(tc.stream))
				}
				assert.Equal(t, kind, k, "cut at %d", cut)
				assert.Equal(t, err, e, "cut at %d", cut)
			}
		})
	}
}

// However a stream is cut into pieces, the scanner finds what it finds in
// the whole, and never reads past the first event it reports.
func FuzzEventScanner(f *testing.F) {
	f.Add("event: ping\r\ndata: {}\r\n\r\nevent: error\rdata: {\"error\":{\"type\":\"overloaded_error\"}}\r\r", 7, 30)
	f.Add("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: [DONE]\n\n", 1, 2)
	f.Fuzz(func(t *testing.T, stream string, a, b int) {
		if a < 0 || b < 0 {
			return
		}
		var whole eventScanner
		kind, err := whole.scan([]byte(stream))
		var s eventScanner
		var k eventKind
		var e *StreamError
		for _, cut := range []int{min(a, len(stream)), min(max(a, b), len(stream)), len(stream)} {
			if k, e = s.scan([]byte(stream[:cut])); k != eventNone {
				break
			}
		}
		if k != kind || (e == nil) != (err == nil) || (e != nil && *e != *err) {
			t.Fatalf("in pieces: %v %v; whole: %v %v", k, e, kind, err)
		}
		if kind != eventNone && !strings.ContainsAny(stream[:whole.off], "\r\n") {
			t.Fatalf("reported an event without a line end: %q", stream[:whole.off])
		}
	})
}
