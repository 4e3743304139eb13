package idempotency_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

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
		var p payments
		store := &blinkingStore{Store: idempotency.NewMemoryStore(0, 0)}
		store.fails.Store(100)
		srv := serve(t, idempotency.Options{Store: store, Logger: discardLogger()}, &p)
		send(t, http.MethodPost, srv.URL, "k", "x")
		again := send(t, http.MethodPost, srv.URL, "k", "x")
		assert.Equal(t, http.StatusConflict, again.status, "the key stays leased: never a second run")
		assert.Equal(t, int32(4), store.completes.Load(), "a bounded number of tries")
		assert.Equal(t, int32(1), p.runs.Load())
	})
}
