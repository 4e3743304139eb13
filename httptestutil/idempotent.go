package httptestutil

import (
	"net/http"
	"sync"

	"github.com/rtchain/rtchain/idempotency"
)

// IdempotentHandler wraps a handler in idempotency.Middleware, with a store
// of its own in memory, and counts how often the handler really ran: the
// tool for tests of exactly-once delivery. The rules are the middleware's:
//
//   - A request with a new key runs the handler; its response is stored.
//   - The same key again (same method, path, query and body) gets the
//     stored response, with Idempotent-Replayed: true, and the handler does
//     not run.
//   - The same key while the first is still running gets 409 Conflict with
//     Retry-After.
//   - The same key with another request gets 422.
//   - A 5xx from the handler is not stored: the key is released, as if the
//     operation had failed without effect, so a retry runs it again.
//   - A request without the header runs the handler every time.
//
// It is safe for concurrent use.
type IdempotentHandler struct {
	h      http.Handler
	mu     sync.Mutex
	runs   int
	stored map[string]bool // keys whose run answered below 500
}

// Idempotent wraps h; see IdempotentHandler.
func Idempotent(h http.Handler) *IdempotentHandler {
	ih := &IdempotentHandler{stored: map[string]bool{}}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		ih.mu.Lock()
		ih.runs++
		ih.mu.Unlock()
		h.ServeHTTP(sw, r)
		if key := r.Header.Get(idempotency.DefaultHeader); key != "" && sw.status() < 500 {
			ih.mu.Lock()
			ih.stored[key] = true
			ih.mu.Unlock()
		}
	})
	ih.h = idempotency.Middleware(idempotency.Options{})(counted)
	return ih
}

// ServeHTTP applies the rules of IdempotentHandler to one request.
func (ih *IdempotentHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ih.h.ServeHTTP(w, r)
}

// Runs returns how many times the wrapped handler has run.
func (ih *IdempotentHandler) Runs() int {
	ih.mu.Lock()
	defer ih.mu.Unlock()
	return ih.runs
}

// Keys returns how many keys have a stored response.
func (ih *IdempotentHandler) Keys() int {
	ih.mu.Lock()
	defer ih.mu.Unlock()
	return len(ih.stored)
}

// statusWriter notes the status a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
