package redisstore_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/transport"
)

// Redis killed (SIGKILL) in the middle of a run of keyed payments, and
// started again a moment later from its append-only file. While it is down
// the middleware fails closed (503 + Retry-After: nothing runs unguarded);
// the clients wait and retry, and recover when it is back. No payment
// happens twice, none acknowledged is missing, every answer is the
// original.
func TestRedisKilledAndRestarted(t *testing.T) {
	const calls = 400
	srv := redistest.Start(t, t.TempDir())
	store := redisstore.New(client(t, srv), "restart:")
	l := &ledger{charged: map[string]int{}, answer: map[string]string{}}
	// A short lease: a key whose lease was written just before the kill,
	// for a request that never ran, is free again soon after the restart.
	mw := idempotency.Middleware(idempotency.Options{Store: store, Lease: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	var unavailable atomic.Int64
	count503 := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w}
			h.ServeHTTP(rec, r)
			if rec.status == http.StatusServiceUnavailable {
				unavailable.Add(1)
			}
		})
	}
	a, b := htu.NewServer(t, count503(mw(l))), htu.NewServer(t, count503(mw(l)))
	base := cleanhttp.DefaultPooledTransport()
	t.Cleanup(base.CloseIdleConnections)
	client := transport.NewClientWith(transport.ClientOptions{
		Base:            base,
		IdempotencyKeys: true,
		Timeout:         -1,
		Retry: transport.RetryPolicy{
			MaxRetries: 10,
			Hosts:      []string{hostOf(t, a.URL), hostOf(t, b.URL)},
			Budget:     transport.RetryBudget{Disabled: true},
		},
		Breaker: transport.BreakerOptions{Disabled: true}, // both instances fail together: nothing to fail over to
	})

	got := make([]string, calls)
	var done atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				status, body, err := pay(client, a.URL, fmt.Sprint("order-", i), fmt.Sprint(i, " EUR"), 30*time.Second)
				if assert.NoError(t, err, "order %d", i) &&
					assert.Equal(t, http.StatusCreated, status, "order %d: %s", i, body) {
					got[i] = body
				}
				done.Add(1)
			}
		})
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for done.Load() < calls/3 {
			time.Sleep(time.Millisecond) // waiting for the run to be under way
		}
		srv.Kill()
		time.Sleep(500 * time.Millisecond) // Redis is down
		assert.NoError(t, srv.Restart())
	}()
	start := time.Now()
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	<-killed

	l.mu.Lock()
	defer l.mu.Unlock()
	twice, missing, wrong := l.check(got)
	t.Logf("%d keyed payments, Redis killed and restarted after %d: %v; %d effects, %d charged twice, "+
		"%d acknowledged but missing, %d answers not the original, %d answers 503 while Redis was down",
		calls, calls/3, time.Since(start).Round(time.Millisecond), l.runs.Load(), twice, missing, wrong, unavailable.Load())
	assert.Zero(t, twice, "effects executed twice")
	assert.Zero(t, missing)
	assert.Zero(t, wrong)
	require.Equal(t, calls, len(l.charged), "every payment happened")
	assert.Positive(t, unavailable.Load(), "the middleware failed closed while Redis was down")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
