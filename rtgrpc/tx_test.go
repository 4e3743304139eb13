package rtgrpc_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/rtgrpc"
)

// txStore is a TxStore over a MemoryStore whose commits fail while failing
// is set: what sqlstore's contract looks like, without a database.
type txStore struct {
	*idempotency.MemoryStore
	failing   atomic.Bool
	committed atomic.Int64
}

type txn struct {
	s          *txStore
	key, owner string
}

type txKey struct{}

func (s *txStore) BeginTx(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (idempotency.Record, idempotency.Txn, error) {
	existing, acquired, err := s.Begin(ctx, key, r, lease)
	if err != nil || !acquired {
		return existing, nil, err
	}
	return idempotency.Record{}, &txn{s: s, key: key, owner: r.Owner}, nil
}

func (t *txn) Context(ctx context.Context) context.Context { return context.WithValue(ctx, txKey{}, t) }
func (t *txn) Rollback(ctx context.Context) error          { return t.s.Release(ctx, t.key, t.owner) }
func (t *txn) Confirm(ctx context.Context) error           { return t.s.Extend(ctx, t.key, t.owner, time.Minute) }

func (t *txn) Commit(ctx context.Context, resp *idempotency.Response, ttl time.Duration) error {
	if t.s.failing.Load() {
		_ = t.s.Release(ctx, t.key, t.owner)
		return errors.New("connection reset")
	}
	t.s.committed.Add(1)
	return t.s.Complete(ctx, t.key, t.owner, resp, ttl)
}

func TestServerWithATxStoreAnswersAfterTheCommit(t *testing.T) {
	store := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0)}
	inTx := atomic.Bool{}
	s := &svc{unary: func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		inTx.Store(ctx.Value(txKey{}) != nil)
		require.NoError(t, idempotency.Confirm(ctx), "Confirm asks the transaction")
		return charged(ctx, n, req)
	}}
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{Store: store, Logger: quiet()})))
	client := dial(t, addr, once)

	store.failing.Store(true)
	var h, tr metadata.MD
	_, err := client.UnaryCall(keyed(t.Context(), "k"), pay("1"), grpc.Header(&h), grpc.Trailer(&tr))
	assert.Equal(t, codes.Unavailable, status.Code(err), "a commit that failed")
	assert.NotEmpty(t, tr.Get(rtgrpc.PushbackKey))
	assert.Empty(t, h.Get("x-charge"), "the uncommitted run's metadata is not sent")
	assert.True(t, inTx.Load(), "the handler ran in the transaction")

	store.failing.Store(false)
	_, err = client.UnaryCall(keyed(t.Context(), "k"), pay("1"), grpc.Header(&h))
	require.NoError(t, err, "the retry ran on a clean slate")
	assert.Equal(t, []string{"yes"}, h.Get("x-charge"), "sent once committed")
	_, err = client.UnaryCall(keyed(t.Context(), "k"), pay("1"), grpc.Header(&h))
	require.NoError(t, err)
	assert.Equal(t, []string{"true"}, h.Get(rtgrpc.ReplayedKey))
	assert.Equal(t, int64(1), store.committed.Load())
	assert.Equal(t, int64(2), s.calls.Load())
}
