package httptestutil

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// ThrottleFirstHandler throttles the first request of each key, as servers
// whose limits have a scope do (S3's SlowDown per prefix, a lock per
// object, an LLM API that turns a call away whatever the rate), and serves
// every other request. It counts what it served and what it refused. It is
// safe for concurrent use.
type ThrottleFirstHandler struct {
	key       func(*http.Request) string
	header    http.Header
	next      http.Handler
	mu        sync.Mutex
	seen      map[string]bool
	served    atomic.Int64
	throttled atomic.Int64
}

// ThrottleFirst returns a handler that answers the first request of each
// key (as key names it) 429 Too Many Requests with header (Retry-After,
// retry-after-ms, ...), and every later request of that key, and every
// request whose key is "", with next. A nil next answers 200 "ok".
//
// Keyed by path, it throttles resources once each; keyed by a call's own
// identifier (a header the caller sets), it refuses each call's first
// attempt, however fast or slow the calls come.
func ThrottleFirst(key func(*http.Request) string, header http.Header, next http.Handler) *ThrottleFirstHandler {
	if next == nil {
		next = OK("ok")
	}
	return &ThrottleFirstHandler{key: key, header: header.Clone(), next: next, seen: map[string]bool{}}
}

// ServeHTTP throttles or serves r.
func (h *ThrottleFirstHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if k := h.key(r); k != "" {
		h.mu.Lock()
		first := !h.seen[k]
		h.seen[k] = true
		h.mu.Unlock()
		if first {
			h.throttled.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			for name, v := range h.header {
				w.Header()[name] = v
			}
			http.Error(w, "throttled", http.StatusTooManyRequests)
			return
		}
	}
	h.served.Add(1)
	h.next.ServeHTTP(w, r)
}

// Served returns how many requests were let through to next.
func (h *ThrottleFirstHandler) Served() int { return int(h.served.Load()) }

// Throttled returns how many requests were answered 429.
func (h *ThrottleFirstHandler) Throttled() int { return int(h.throttled.Load()) }
