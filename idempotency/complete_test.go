package idempotency_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// blinkingStore is a memory store whose Complete fails the first fails
// times: a Redis that fails over, or restarts, as a handler finishes.
type blinkingStore struct {
	idempotency.Store
	fails     atomic.Int32
	completes atomic.Int32
}

func (s *blinkingStore) Complete(ctx context.Context, key, owner string, resp *idempotency.Response, ttl time.Duration) error {
	s.completes.Add(1)
	if s.fails.Add(-1) >= 0 {
		return errDown
	}
	return s.Store.Complete(ctx, key, owner, resp, ttl)
}

// A store that fails to take a response is offered it again, a few times:
// the effect happened, and a key left leased would run again once its
// lease expired, if the answer had been lost too.
func TestCompleteIsTriedAgain(t *testing.T) {
	t.Run("a blink", func(t *testing.T) {
		var p payments
		store := &blinkingStore{Store: idempotency.NewMemoryStore(0, 0)}
		store.fails.Store(2)
		srv := serve(t, idempotency.Options{Store: store, Logger: discardLogger()}, &p)
		first := send(t, http.MethodPost, srv.URL, "k", "x")
		again := send(t, http.MethodPost, srv.URL, "k", "x")
		assert.Equal(t, first.body, again.body)
		assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"), "stored on the third try")
		assert.Equal(t, int32(3), store.completes.Load())
		assert.Equal(t, int32(1), p.runs.Load())
	})
	t.Run("an outage", func(t *testing.T) {
		t.Parallel()
		var p payments
		store := &blinkingStore{Store: idempotency.NewMemoryStore(0, 0)}
		store.fails.Store(100)
		srv := serve(t, idempotency.Options{Store: store, Logger: discardLogger()}, &p)
		send(t, http.MethodPost, srv.URL, "k", "x")
		again := send(t, http.MethodPost, srv.URL, "k", "x")
		assert.Equal(t, http.StatusConflict, again.status, "the key stays leased: never a second run")
		// Tried for 5 s, 100 ms apart at first, doubling up to 1 s.
		assert.InDelta(t, 8, store.completes.Load(), 2, "a bounded number of tries")
		assert.Equal(t, int32(1), p.runs.Load())
	})
}

// lostReplyStore is a memory store whose Begin takes the key and then fails,
// the first time: a Redis master killed after it wrote the record and
// before its reply arrived. Release fails while down is set.
type lostReplyStore struct {
	idempotency.Store
	lost     atomic.Bool
	down     atomic.Int32
	releases atomic.Int32
}

func (s *lostReplyStore) Begin(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (idempotency.Record, bool, error) {
	rec, ok, err := s.Store.Begin(ctx, key, r, lease)
	if err == nil && ok && !s.lost.Swap(true) {
		return idempotency.Record{}, false, errDown
	}
	return rec, ok, err
}

func (s *lostReplyStore) Release(ctx context.Context, key, owner string) error {
	defer s.releases.Add(1) // counted once it has happened
	if s.down.Add(-1) >= 0 {
		return errDown
	}
	return s.Store.Release(ctx, key, owner)
}

// A Begin whose reply was lost may have taken the key: the request that
// answered 503 frees it, trying again while the store is down, so that its
// retry runs at once instead of meeting 409 until the lease runs out.
func TestFailedBeginFreesTheKey(t *testing.T) {
	for _, down := range []int32{0, 3} {
		t.Run(fmt.Sprint(down, " releases fail"), func(t *testing.T) {
			var p payments
			store := &lostReplyStore{Store: idempotency.NewMemoryStore(0, 0)}
			store.down.Store(down)
			srv := serve(t, idempotency.Options{Store: store, Logger: discardLogger()}, &p)
			first := send(t, http.MethodPost, srv.URL, "k", "x")
			assert.Equal(t, http.StatusServiceUnavailable, first.status)
			require.Eventually(t, func() bool { return store.releases.Load() == down+1 }, 10*time.Second, time.Millisecond)
			again := send(t, http.MethodPost, srv.URL, "k", "x")
			assert.Equal(t, http.StatusCreated, again.status, again.body)
			assert.Equal(t, int32(1), p.runs.Load())
		})
	}
}
