package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// txStore is a TxStore over a MemoryStore whose transactions hold writes to
// a ledger: what a handler writes becomes visible only with the commit.
type txStore struct {
	*idempotency.MemoryStore
	mu        sync.Mutex
	ledger    []string
	commitErr error // what the next Commit answers, once; nothing is committed
	rollbacks int
	confirms  int
}

type txKey struct{}

type fakeTxn struct {
	s          *txStore
	key, owner string
	writes     []string
}

func (s *txStore) BeginTx(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (idempotency.Record, idempotency.Txn, error) {
	existing, acquired, err := s.Begin(ctx, key, r, lease)
	if err != nil || !acquired {
		return existing, nil, err
	}
	return idempotency.Record{}, &fakeTxn{s: s, key: key, owner: r.Owner}, nil
}

func (t *fakeTxn) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, txKey{}, t)
}

func (t *fakeTxn) Commit(ctx context.Context, resp *idempotency.Response, ttl time.Duration) error {
	t.s.mu.Lock()
	err := t.s.commitErr
	t.s.commitErr = nil
	t.s.mu.Unlock()
	if err != nil {
		_ = t.s.Release(ctx, t.key, t.owner)
		return err
	}
	if err := t.s.Complete(ctx, t.key, t.owner, resp, ttl); err != nil {
		return err
	}
	t.s.mu.Lock()
	t.s.ledger = append(t.s.ledger, t.writes...)
	t.s.mu.Unlock()
	return nil
}

func (t *fakeTxn) Rollback(ctx context.Context) error {
	t.s.mu.Lock()
	t.s.rollbacks++
	t.s.mu.Unlock()
	return t.s.Release(ctx, t.key, t.owner)
}

func (t *fakeTxn) Confirm(ctx context.Context) error {
	t.s.mu.Lock()
	t.s.confirms++
	t.s.mu.Unlock()
	return t.s.Extend(ctx, t.key, t.owner, time.Minute)
}

func (s *txStore) entries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ledger...)
}

// txCharge writes a ledger entry through the request's transaction, then
// answers as answer says.
func txCharge(answer func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		txn := r.Context().Value(txKey{}).(*fakeTxn)
		txn.writes = append(txn.writes, string(b))
		w.Header().Set("Location", "/charges/1")
		answer(w, r)
	})
}

func created(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"charged":true}`)
}

func TestTxStoreCommitsEffectAndAnswerTogether(t *testing.T) {
	s := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0)}
	srv := serve(t, idempotency.Options{Store: s, Logger: discardLogger()}, txCharge(created))
	first := send(t, http.MethodPost, srv.URL+"/pay", "k", "10 EUR")
	require.Equal(t, http.StatusCreated, first.status)
	assert.Equal(t, `{"charged":true}`, first.body)
	assert.Equal(t, "/charges/1", first.header.Get("Location"))
	again := send(t, http.MethodPost, srv.URL+"/pay", "k", "10 EUR")
	assert.Equal(t, first.body, again.body)
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Equal(t, []string{"10 EUR"}, s.entries())
}

func TestTxStoreRollsBackFailures(t *testing.T) {
	for name, answer := range map[string]func(http.ResponseWriter, *http.Request){
		"5xx": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) },
		"too large": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(strings.Repeat("x", 100)))
			_, _ = w.Write([]byte(strings.Repeat("x", 100)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0)}
			fail := true
			srv := serve(t, idempotency.Options{Store: s, MaxResponseBytes: 150, Logger: discardLogger()},
				txCharge(func(w http.ResponseWriter, r *http.Request) {
					if fail {
						answer(w, r)
						return
					}
					created(w, r)
				}))
			r := send(t, http.MethodPost, srv.URL+"/pay", "k", "10 EUR")
			assert.GreaterOrEqual(t, r.status, 500)
			if name == "too large" {
				assert.Equal(t, idempotency.ProblemResponseTooLarge, problemType(t, r))
				assert.Empty(t, r.header.Get("Location"), "nothing of the rolled-back answer is sent")
			}
			assert.Empty(t, s.entries(), "rolled back")
			fail = false
			assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, srv.URL+"/pay", "k", "10 EUR").status,
				"the retry runs on a clean slate")
			assert.Equal(t, []string{"10 EUR"}, s.entries())
		})
	}
}

func TestTxStoreFailedCommitSendsNoAnswer(t *testing.T) {
	for name, c := range map[string]struct {
		err    error
		status int
		kind   string
	}{
		"cut":        {errors.New("connection reset"), http.StatusServiceUnavailable, idempotency.ProblemStoreUnavailable},
		"lease lost": {idempotency.ErrLeaseLost, http.StatusConflict, idempotency.ProblemKeyInUse},
	} {
		t.Run(name, func(t *testing.T) {
			s := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0), commitErr: c.err}
			srv := serve(t, idempotency.Options{Store: s, Logger: discardLogger()}, txCharge(created))
			r := send(t, http.MethodPost, srv.URL+"/pay", "k", "10 EUR")
			assert.Equal(t, c.status, r.status)
			assert.Equal(t, c.kind, problemType(t, r))
			assert.NotEmpty(t, r.header.Get("Retry-After"))
			assert.Empty(t, r.header.Get("Location"), "the uncommitted answer's fields are not sent")
			assert.Empty(t, s.entries())
			assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, srv.URL+"/pay", "k", "10 EUR").status)
			assert.Equal(t, []string{"10 EUR"}, s.entries(), "one effect")
		})
	}
}

func TestTxStorePanicRollsBack(t *testing.T) {
	s := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0)}
	h := idempotency.Middleware(idempotency.Options{Store: s})(txCharge(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	req, _ := http.NewRequest(http.MethodPost, "/pay", strings.NewReader("x"))
	req.Header.Set("Idempotency-Key", "k")
	assert.PanicsWithValue(t, "boom", func() { h.ServeHTTP(discardWriter{}, req) })
	assert.Equal(t, 1, s.rollbacks)
	assert.Empty(t, s.entries())
}

func TestTxStoreHoldsTheAnswerUntilTheCommit(t *testing.T) {
	s := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0)}
	flushed, finish := make(chan struct{}), make(chan struct{})
	srv := serve(t, idempotency.Options{Store: s}, txCharge(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, idempotency.Confirm(r.Context()))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("partial "))
		require.NoError(t, http.NewResponseController(w).Flush())
		close(flushed)
		<-finish
		_, _ = w.Write([]byte("done"))
	}))
	got := make(chan result, 1)
	go func() { got <- send(t, http.MethodPost, srv.URL+"/pay", "k", "1") }()
	<-flushed
	select {
	case r := <-got:
		t.Fatalf("the answer arrived before the commit: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	close(finish)
	r := <-got
	assert.Equal(t, http.StatusCreated, r.status)
	assert.Equal(t, "partial done", r.body)
	assert.Equal(t, 1, s.confirms, "Confirm asks the transaction")
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}
