package redisstore_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/transport"
)

// Two instances on a Redis Cluster of 3 masters with a replica each, 500
// keyed payments, 1 in 10 answers lost after the effect, and a master
// killed (SIGKILL) while they run, its replica promoted: every payment
// happens exactly once, and every call gets the original answer.
func TestExactlyOnceOnClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	store := redisstore.New(rdb, "pay:")
	l := &ledger{charged: map[string]int{}, answer: map[string]string{}}
	mw := idempotency.Middleware(idempotency.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})(l)
	var inflight sync.WaitGroup
	var n atomic.Int64
	front := func() *htu.Server {
		return htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Done()
			if n.Add(1)%10 == 0 { // the effect happens, the answer is lost
				mw.ServeHTTP(httptest.NewRecorder(), r)
				htu.Reset().ServeHTTP(w, r)
				return
			}
			mw.ServeHTTP(w, r)
		}))
	}
	a, b := front(), front()
	var retries atomic.Int64
	// No breaker: both instances wait for the same failover.
	client := keyedClient(t, []string{hostOf(t, a.URL), hostOf(t, b.URL)}, 15, 2*time.Second,
		transport.BreakerOptions{Disabled: true}, &retries)

	const calls = 500
	var done atomic.Int64
	var killed *redistest.Server
	var failover time.Duration
	var chaos sync.WaitGroup
	chaos.Go(func() {
		for done.Load() < 150 {
			time.Sleep(time.Millisecond) // waiting for the run to be under way
		}
		killed = c.Masters()[0]
		killed.Kill()
		start := time.Now()
		if err := c.WaitHealthy(30 * time.Second); err != nil {
			t.Error(err)
		}
		failover = time.Since(start)
	})
	start := time.Now()
	got, failed := payOrders(t, client, a.URL, calls, 60*time.Second, &done)
	chaos.Wait()
	inflight.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	twice, missing, wrong := l.check(got)
	t.Logf("%d keyed payments in %v, master %s killed, replica promoted in %v: %d effects for %d keys, %d charged twice, "+
		"%d acknowledged but missing, %d not the original, %d failed, %d retries",
		calls, time.Since(start).Round(time.Millisecond), killed.Addr, failover.Round(time.Millisecond), l.runs.Load(),
		len(l.charged), twice, missing, wrong, failed, retries.Load())
	assert.Zero(t, twice, "effects executed twice")
	assert.Zero(t, missing)
	assert.Zero(t, wrong)
	assert.Zero(t, failed)
	require.Equal(t, calls, len(l.charged))
}
