package httptestutil

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ThrottleFirstHandler throttles the first request of each key, as servers
// whose limits have a scope do (S3's SlowDown per prefix, a lock per
// object, an LLM API that turns a call away whatever the rate), and serves
// every other request. It counts what it served and what it refused. It is
// safe for concurrent use.
type ThrottleFirstHandler struct {
	key       func(*http.Request) string
	header    http.Header
	wait      time.Duration // what header asks for
	next      http.Handler
	mu        sync.Mutex
	seen      map[string]time.Time // key → until when it is refused
	served    atomic.Int64
	throttled atomic.Int64
}

// ThrottleFirst returns a handler that answers the first request of each
// key (as key names it) 429 Too Many Requests with header (Retry-After,
// retry-after-ms, ...), and every later request of that key, and every
// request whose key is "", with next. A nil next answers 200 "ok".
//
// Like a real server, it holds the key to the wait it asked for: a request
// of that key sent before the Retry-After (or retry-after-ms) of its 429 has
// passed is refused again, with the same header.
//
// Keyed by path, it throttles resources once each; keyed by a call's own
// identifier (a header the caller sets), it refuses each call's first
// attempt, however fast or slow the calls come.
func ThrottleFirst(key func(*http.Request) string, header http.Header, next http.Handler) *ThrottleFirstHandler {
	if next == nil {
		next = OK("ok")
	}
	var wait time.Duration
	if ms, err := strconv.Atoi(header.Get("Retry-After-Ms")); err == nil {
		wait = time.Duration(ms) * time.Millisecond
	} else if secs, err := strconv.Atoi(header.Get("Retry-After")); err == nil {
		wait = time.Duration(secs) * time.Second
	}
	return &ThrottleFirstHandler{key: key, header: header.Clone(), wait: wait, next: next, seen: map[string]time.Time{}}
}

// ServeHTTP throttles or serves r.
func (h *ThrottleFirstHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if k := h.key(r); k != "" {
		now := time.Now()
		h.mu.Lock()
		until, seen := h.seen[k]
		refuse := !seen || now.Before(until)
		if !seen {
			h.seen[k] = now.Add(h.wait)
		}
		h.mu.Unlock()
		if refuse {
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
