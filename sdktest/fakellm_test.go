package sdktest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakeLLM is the part of an LLM API that the recipes call: one POST
// endpoint that, like the service, refuses a request without the key, or
// whose body is not JSON naming a model and messages. Its script says what
// each request gets, in order, after the checks; when it runs out, it
// answers ok (or okStream when the request asked to stream):
//
//	"429"       429 with retry-after-ms: 5 (OpenAI) or retry-after: 0
//	"503"       503, nothing done
//	"529"       529 overloaded_error (Anthropic)
//	"500 retry" 500 with x-should-retry: true
//	"500"       500 without it (an effect may have happened)
//	"429 no"    429 with x-should-retry: false
//	"cut"       200, the stream starts, and the connection drops mid-way
type fakeLLM struct {
	path, auth, authValue string
	required              []string // header fields the service refuses requests without
	ok, okStream, cutAt   string   // bodies; cutAt: a prefix of okStream
	errorBody             func(kind string) string
	// streamed, when set, gives the events a step of its own streams after
	// a 200 (see newStreamingAnthropic), or "" for the fake's own steps.
	streamed func(step string) string

	mu       sync.Mutex
	script   []string
	requests int
	bodies   []string
	retries  []string // the SDK's X-Stainless-Retry-Count of each request
}

func (f *fakeLLM) start(t *testing.T, script ...string) string {
	t.Helper()
	f.script = script
	return serve(t, f)
}

func (f *fakeLLM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests++
	f.bodies = append(f.bodies, string(body))
	f.retries = append(f.retries, r.Header.Get("X-Stainless-Retry-Count"))
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
	switch {
	case r.Method != http.MethodPost || r.URL.Path != f.path:
		http.NotFound(w, r)
		return
	case r.Header.Get(f.auth) != f.authValue:
		writeJSON(w, http.StatusUnauthorized, nil, f.errorBody("authentication_error"))
		return
	case !hasAll(r.Header, f.required):
		writeJSON(w, http.StatusBadRequest, nil, f.errorBody("invalid_request_error"))
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"),
		json.Unmarshal(body, &req) != nil, req.Model == "", len(req.Messages) == 0:
		writeJSON(w, http.StatusBadRequest, nil, f.errorBody("invalid_request_error"))
		return
	}
	if f.streamed != nil && req.Stream {
		if events := f.streamed(step); events != "" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			for _, part := range strings.SplitAfter(events, "\n\n") { // an event at a time, as the APIs send them
				_, _ = io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
			return
		}
	}
	switch step {
	case "429":
		writeJSON(w, http.StatusTooManyRequests, http.Header{"Retry-After-Ms": {"5"}, "Retry-After": {"0"}}, f.errorBody("rate_limit_error"))
	case "429 no":
		writeJSON(w, http.StatusTooManyRequests, http.Header{"X-Should-Retry": {"false"}}, f.errorBody("rate_limit_error"))
	case "503":
		writeJSON(w, http.StatusServiceUnavailable, nil, f.errorBody("api_error"))
	case "529":
		writeJSON(w, 529, nil, f.errorBody("overloaded_error"))
	case "500 retry":
		writeJSON(w, http.StatusInternalServerError, http.Header{"X-Should-Retry": {"true"}}, f.errorBody("api_error"))
	case "500":
		writeJSON(w, http.StatusInternalServerError, nil, f.errorBody("api_error"))
	case "cut":
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, f.cutAt)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, not a clean end
			}
			conn.Close()
		}
	default:
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, f.okStream)
			return
		}
		writeJSON(w, http.StatusOK, nil, f.ok)
	}
}

func writeJSON(w http.ResponseWriter, code int, h http.Header, body string) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func hasAll(h http.Header, names []string) bool {
	for _, n := range names {
		if h.Get(n) == "" {
			return false
		}
	}
	return true
}
