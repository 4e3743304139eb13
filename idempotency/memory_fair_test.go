package idempotency_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// One caller filling the store with keys of its own gets 503s itself; every
// other caller's keys are still taken, and their stored answers kept: the
// filler pays with its oldest answers.
func TestOneCallerCannotTakeTheStore(t *testing.T) {
	var p payments
	srv := serve(t, idempotency.Options{Store: idempotency.NewMemoryStore(100, 0), Logger: discardLogger()}, &p)
	as := func(who, key string) result {
		return send(t, http.MethodPost, srv.URL, key, "x", "Authorization", "Bearer "+who)
	}
	for i := range 10 {
		require.Equal(t, http.StatusCreated, as("alice", "a"+strconv.Itoa(i)).status)
	}
	refused := 0
	for i := range 150 {
		switch r := as("mallory", "m"+strconv.Itoa(i)); r.status {
		case http.StatusCreated:
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("mallory's key %d: %d", i, r.status)
		}
	}
	assert.Equal(t, 60, refused, "mallory takes what alice left, then is refused")
	for i := range 10 {
		r := as("alice", "a"+strconv.Itoa(i))
		assert.Equal(t, "true", r.header.Get("Idempotent-Replayed"), "alice's answer %d is kept", i)
	}
	for i := range 20 {
		assert.Equal(t, http.StatusCreated, as("bob", "b"+strconv.Itoa(i)).status, "bob's new key %d is taken", i)
	}
	assert.Equal(t, http.StatusServiceUnavailable, as("mallory", "m-more").status)
	assert.Equal(t, "true", as("mallory", "m89").header.Get("Idempotent-Replayed"), "mallory's newest answers are kept")
}

// The byte bound holds when answers are stored, not only when keys are
// taken: 16 runs at once that each answer 16 KiB, into a store of 64 KiB,
// leave it within its bound; the answers that did not fit get 410 on a
// duplicate, never a second run.
func TestTheByteBoundHoldsWhenAnswersAreStored(t *testing.T) {
	const runs, size = 16, 16 << 10
	store := idempotency.NewMemoryStore(0, 64<<10)
	var started sync.WaitGroup
	started.Add(runs)
	gate := make(chan struct{})
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		started.Done()
		<-gate
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(strings.Repeat(body, size)))
	}}
	srv := serve(t, idempotency.Options{Store: store}, &p)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			r := send(t, http.MethodPost, srv.URL, "k"+strconv.Itoa(i), "z")
			assert.Equal(t, http.StatusCreated, r.status)
			assert.Len(t, r.body, size, "the first run's client gets the whole answer")
		})
	}
	started.Wait()
	close(gate)
	wg.Wait()
	assert.LessOrEqual(t, store.Bytes(), int64(64<<10))

	replayed, gone := 0, 0
	for i := range runs {
		switch r := send(t, http.MethodPost, srv.URL, "k"+strconv.Itoa(i), "z"); r.status {
		case http.StatusCreated:
			assert.Equal(t, "true", r.header.Get("Idempotent-Replayed"))
			replayed++
		case http.StatusGone:
			gone++
		default:
			t.Errorf("duplicate %d: %d %s", i, r.status, r.body)
		}
	}
	assert.Equal(t, int32(runs), p.runs.Load(), "no second run")
	assert.Equal(t, runs, replayed+gone)
	assert.Positive(t, replayed)
	assert.Positive(t, gone)
}

// A full store answers a new key at once, whatever it holds: the cost of
// Begin stays flat from 1,000 to 100,000 live records (no scan of them).
func BenchmarkMemoryStoreFull(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			s := idempotency.NewMemoryStore(n, 1<<40)
			rec := idempotency.Record{Owner: "o", Fingerprint: "f"}
			for i := range n {
				if _, _, err := s.Begin(ctx, "0::k"+strconv.Itoa(i), rec, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Begin(ctx, "0::new", rec, time.Hour); err != idempotency.ErrStoreFull {
					b.Fatal(err)
				}
			}
		})
	}
}
