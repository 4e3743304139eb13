package transport_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/rtchain/rtchain/transport"
)

// An LLM API that answers a streamed call 200 and then, before any content,
// an overloaded_error event: nothing reached the caller, so NewClient's
// Retry sends the call again, and the caller reads the second stream from
// its first byte. An error after the content began would be the caller's.
func ExampleEventStreamOptions() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\"}\n\n")
		if calls.Add(1) == 1 {
			_, _ = io.WriteString(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n")
			return
		}
		_, _ = io.WriteString(w, "event: content_block_delta\ndata: {\"delta\":{\"text\":\"Hello\"}}\n\n")
	}))
	defer srv.Close()

	resp, err := transport.NewClient().Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	stream, _ := io.ReadAll(resp.Body)
	fmt.Print(string(stream))
	fmt.Println("attempts:", transport.Attempts(resp))
	// Output:
	// event: message_start
	// data: {"type":"message_start"}
	//
	// event: content_block_delta
	// data: {"delta":{"text":"Hello"}}
	//
	// attempts: 2
}
