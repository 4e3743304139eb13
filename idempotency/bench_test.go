package idempotency_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/rtchain/rtchain/idempotency"
)

// BenchmarkMiddleware is the cost of the middleware per keyed POST, over the
// bare handler, with no network: a first request (a new key: the caller's
// scope, fingerprint, lease, run, store) and a replay (a known key: scope,
// fingerprint, lookup, copy), each from a caller with a bearer token.
//
//	go test -run '^$' -bench Middleware -benchmem -count 6 ./idempotency
func BenchmarkMiddleware(b *testing.B) {
	const body = `{"amount":1000,"currency":"EUR","source":"tok_visa"}`
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"ch_1","status":"succeeded"}`)
	})
	run := func(b *testing.B, h http.Handler, key func(i int) string) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			req := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc") // the caller's scope
			if k := key(i); k != "" {
				req.Header.Set("Idempotency-Key", k)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	b.Run("bare handler", func(b *testing.B) {
		run(b, handler, func(int) string { return "" })
	})
	b.Run("first request", func(b *testing.B) {
		mw := idempotency.Middleware(idempotency.Options{Store: idempotency.NewMemoryStore(1<<24, 1<<34)})(handler)
		run(b, mw, func(i int) string { return "key-" + strconv.Itoa(i) })
	})
	b.Run("replay", func(b *testing.B) {
		mw := idempotency.Middleware(idempotency.Options{})(handler)
		run(b, mw, func(int) string { return "the-same-key" })
	})
}
