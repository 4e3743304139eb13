package idempotency_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rtchain/rtchain/idempotency"
)

// Hostile requests: any key bytes, any body, a body cut off mid-way, a
// handler that fails. Nothing panics, nothing runs twice for one key, and
// no partial record is left: a request that did not run leaves its key
// free.
//
// Run: go test -run '^$' -fuzz FuzzHostileRequests -fuzztime 5m ./idempotency
func FuzzHostileRequests(f *testing.F) {
	f.Add("order-1", []byte("10 EUR"), uint8(0), 0)
	f.Add("", []byte{}, uint8(1), 3)
	f.Add("a\x00b", []byte("x"), uint8(2), 1)
	f.Add(string(bytes.Repeat([]byte("k"), 300)), []byte("x"), uint8(3), -1)
	f.Add("ключ", bytes.Repeat([]byte("b"), 5000), uint8(4), 4000)
	f.Fuzz(func(t *testing.T, key string, body []byte, mode uint8, cutAt int) {
		store := idempotency.NewMemoryStore(0, 0)
		runs := 0
		h := idempotency.Middleware(idempotency.Options{Store: store, MaxRequestBytes: 4096, MaxResponseBytes: 64})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs++
				got, _ := io.ReadAll(r.Body)
				if !bytes.Equal(got, body) {
					t.Fatalf("the handler saw %d bytes, the client sent %d", len(got), len(body))
				}
				switch mode % 3 {
				case 1:
					w.WriteHeader(http.StatusInternalServerError)
				case 2:
					_, _ = w.Write(bytes.Repeat([]byte("r"), 100)) // over the response cap
				default:
					_, _ = w.Write([]byte("ok"))
				}
			}))
		do := func(cut bool) int {
			var r io.Reader = bytes.NewReader(body)
			if cut && cutAt >= 0 && cutAt < len(body) {
				r = io.MultiReader(bytes.NewReader(body[:cutAt]), errReader{})
			}
			req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/pay", r)
			req.Header["Idempotency-Key"] = []string{key}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		first := do(mode&4 != 0)
		firstRuns := runs
		second := do(false)
		valid := idempotency.ValidKey(key) && len(body) <= 4096
		switch {
		case !valid && runs != 0:
			t.Fatalf("an invalid request ran the handler (key %q, %d bytes)", key, len(body))
		case valid && firstRuns == 0 && runs != 1:
			t.Fatalf("a request that never ran (status %d) left its key taken: the retry ran %d times", first, runs)
		case valid && mode%3 == 1 && firstRuns == 1 && runs != 2:
			t.Fatalf("a 5xx did not release the key: %d runs", runs)
		case valid && mode%3 != 1 && runs > 1:
			t.Fatalf("ran %d times for one key (statuses %d, %d)", runs, first, second)
		}
		if store.Len() > 1 {
			t.Fatalf("%d records for one key", store.Len())
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) {
	return 0, io.ErrUnexpectedEOF // the client went away mid-body
}
