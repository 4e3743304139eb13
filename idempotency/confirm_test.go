package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// fencedPayments charges only after idempotency.Confirm; a run that lost
// its lease answers 503 and charges nothing.
type fencedPayments struct {
	charged atomic.Int32
	fenced  atomic.Int32
	// before runs before the fence: a stall goes here.
	before func(r *http.Request, run int32)
	runs   atomic.Int32
}

func (p *fencedPayments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := p.runs.Add(1)
	if p.before != nil {
		p.before(r, n)
	}
	if err := idempotency.Confirm(r.Context()); err != nil {
		p.fenced.Add(1)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	p.charged.Add(1)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "run %d", n)
}

// A run that stalls past its lease, while a duplicate takes the key and
// charges, is fenced off when it wakes: one charge, not two.
func TestConfirmFencesAStaleRun(t *testing.T) {
	slow := make(chan struct{})
	p := fencedPayments{before: func(_ *http.Request, n int32) {
		if n == 1 {
			<-slow // stalls past its lease, before its effect
		}
	}}
	srv := serve(t, idempotency.Options{Lease: 50 * time.Millisecond, Logger: discardLogger()}, &p)
	first := make(chan result)
	go func() { first <- send(t, http.MethodPost, srv.URL, "k", "x") }()
	require.Eventually(t, func() bool { return p.runs.Load() == 1 }, 5*time.Second, time.Millisecond)
	second := sendPast409(t, srv.URL, "k", "x", "the lease expires and a duplicate takes the key")
	assert.Equal(t, "run 2", second.body)
	close(slow)
	stale := <-first
	assert.Equal(t, http.StatusServiceUnavailable, stale.status, "the stale run is fenced off: %s", stale.body)
	assert.Contains(t, stale.body, idempotency.ErrLeaseLost.Error())
	assert.Equal(t, int32(1), p.charged.Load(), "one charge")
	assert.Equal(t, int32(1), p.fenced.Load())
	assert.Equal(t, "run 2", send(t, http.MethodPost, srv.URL, "k", "x").body, "the record is the second run's")
}

// Confirm extends the lease: a handler that calls it as a heartbeat keeps
// its key past its first lease, and a duplicate gets 409 meanwhile.
func TestConfirmExtendsTheLease(t *testing.T) {
	const lease = 100 * time.Millisecond
	beaten := make(chan struct{})
	release := make(chan struct{})
	p := fencedPayments{before: func(r *http.Request, n int32) {
		if n != 1 {
			return
		}
		for range 4 { // a long run: twice the first lease, a beat every half lease
			time.Sleep(lease / 2)
			if err := idempotency.Confirm(r.Context()); err != nil {
				t.Errorf("heartbeat: %v", err)
			}
		}
		close(beaten)
		<-release
	}}
	srv := serve(t, idempotency.Options{Lease: lease, Logger: discardLogger()}, &p)
	first := make(chan result)
	go func() { first <- send(t, http.MethodPost, srv.URL, "k", "x") }()
	<-beaten
	assert.Equal(t, http.StatusConflict, send(t, http.MethodPost, srv.URL, "k", "x").status,
		"the key is still held, twice its first lease later")
	close(release)
	assert.Equal(t, "run 1", (<-first).body)
	assert.Equal(t, int32(1), p.charged.Load())
	assert.Equal(t, int32(1), p.runs.Load())
	assert.NoError(t, idempotency.Confirm(context.Background()), "no key in the context: nothing to fence")
}

type plainStore struct{ idempotency.Store } // hides MemoryStore's Extend

func TestConfirmNeedsAnExtender(t *testing.T) {
	p := fencedPayments{}
	srv := serve(t, idempotency.Options{Store: plainStore{idempotency.NewMemoryStore(0, 0)}, Logger: discardLogger()}, &p)
	r := send(t, http.MethodPost, srv.URL, "k", "x")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Contains(t, r.body, "cannot confirm")
	assert.True(t, errors.Is(idempotency.ErrCannotConfirm, errors.ErrUnsupported))
	assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, srv.URL, "", "x").status, "no key: nothing to fence")
	assert.Equal(t, int32(1), p.charged.Load())
}

// A client that goes away does not fence the run off: it confirms, charges
// and stores its outcome, which the client's retry gets.
func TestConfirmOutlivesTheClient(t *testing.T) {
	gone := make(chan struct{})
	p := fencedPayments{before: func(r *http.Request, n int32) {
		if n == 1 {
			<-r.Context().Done() // the client gave up
			close(gone)
		}
	}}
	srv := serve(t, idempotency.Options{Store: ctxStore{idempotency.NewMemoryStore(0, 0)}, Logger: discardLogger()}, &p)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("x"))
	require.NoError(t, err)
	req.Header.Set("Idempotency-Key", "k")
	errc := make(chan error)
	go func() {
		resp, err := client(t).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return p.runs.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.Error(t, <-errc)
	<-gone
	require.Eventually(t, func() bool { return p.charged.Load() == 1 }, 5*time.Second, time.Millisecond,
		"the run confirmed and charged after its client left")
	r := sendPast409(t, srv.URL, "k", "x", "the run stores its outcome")
	assert.Equal(t, "run 1", r.body, "the retry gets the stored outcome")
	assert.Zero(t, p.fenced.Load())
}

// ctxStore is a MemoryStore that, as a networked store does, fails a call
// whose context has ended.
type ctxStore struct{ *idempotency.MemoryStore }

func (s ctxStore) Extend(ctx context.Context, key, owner string, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.MemoryStore.Extend(ctx, key, owner, lease)
}

func TestHoldLetsOtherProtocolsConfirm(t *testing.T) {
	s := idempotency.NewMemoryStore(0, 0)
	ctx := context.Background()
	_, acquired, err := s.Begin(ctx, "k", idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Minute)
	require.NoError(t, err)
	require.True(t, acquired)
	held := idempotency.Hold(ctx, s, "k", "o", time.Minute, nil)
	require.NoError(t, idempotency.Confirm(held))
	require.NoError(t, s.Release(ctx, "k", "o"))
	assert.ErrorIs(t, idempotency.Confirm(held), idempotency.ErrLeaseLost)
}
