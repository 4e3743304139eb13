package httptestutil

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// IdempotentHandler wraps a handler so that each Idempotency-Key runs it at
// most once, as the IETF Idempotency-Key draft describes, and counts how
// often it really ran: the tool for tests of exactly-once delivery.
//
//   - A request with a new key runs the handler; its response is stored.
//   - The same key again (same method, path and body) gets the stored
//     response, with Idempotent-Replayed: true, and the handler does not run.
//   - The same key while the first is still running gets 409 Conflict.
//   - The same key with a different method, path or body gets 422.
//   - A 5xx from the handler is not stored: the key is released, as if the
//     operation had failed without effect, so a retry runs it again.
//   - A request without the header runs the handler every time.
//
// It is safe for concurrent use.
type IdempotentHandler struct {
	h    http.Handler
	mu   sync.Mutex
	keys map[string]*keyState
	runs int
}

type keyState struct {
	fingerprint [32]byte
	done        bool
	status      int
	header      http.Header
	body        []byte
}

// Idempotent wraps h; see IdempotentHandler.
func Idempotent(h http.Handler) *IdempotentHandler {
	return &IdempotentHandler{h: h, keys: map[string]*keyState{}}
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
	n := 0
	for _, k := range ih.keys {
		if k.done {
			n++
		}
	}
	return n
}

// ServeHTTP applies the rules of IdempotentHandler to one request.
func (ih *IdempotentHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		ih.mu.Lock()
		ih.runs++
		ih.mu.Unlock()
		ih.h.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away mid-upload: nothing happened
	}
	fp := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))

	ih.mu.Lock()
	st, seen := ih.keys[key]
	switch {
	case seen && st.fingerprint != fp:
		ih.mu.Unlock()
		http.Error(w, "Idempotency-Key reused with a different request", http.StatusUnprocessableEntity)
		return
	case seen && !st.done:
		ih.mu.Unlock()
		http.Error(w, "a request with this Idempotency-Key is in progress", http.StatusConflict)
		return
	case seen:
		ih.mu.Unlock()
		writeStored(w, st, true)
		return
	}
	st = &keyState{fingerprint: fp}
	ih.keys[key] = st
	ih.runs++
	ih.mu.Unlock()

	rec := httptest.NewRecorder()
	r.Body = io.NopCloser(bytes.NewReader(body))
	func() {
		defer func() {
			if p := recover(); p != nil {
				ih.release(key)
				panic(p)
			}
		}()
		ih.h.ServeHTTP(rec, r)
	}()

	ih.mu.Lock()
	if rec.Code >= 500 {
		delete(ih.keys, key)
	} else {
		st.done, st.status, st.header, st.body = true, rec.Code, rec.Header().Clone(), rec.Body.Bytes()
	}
	ih.mu.Unlock()
	writeStored(w, &keyState{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, false)
}

func (ih *IdempotentHandler) release(key string) {
	ih.mu.Lock()
	defer ih.mu.Unlock()
	delete(ih.keys, key)
}

func writeStored(w http.ResponseWriter, st *keyState, replayed bool) {
	for k, vs := range st.header {
		w.Header()[k] = append([]string(nil), vs...)
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(st.status)
	_, _ = w.Write(st.body)
}
