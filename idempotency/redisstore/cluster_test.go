package redisstore_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
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
	base := cleanhttp.DefaultPooledTransport()
	t.Cleanup(base.CloseIdleConnections)
	var retries atomic.Int64
	client := transport.NewClientWith(transport.ClientOptions{
		Base:            base,
		IdempotencyKeys: true,
		Timeout:         -1,
		Retry: transport.RetryPolicy{
			MaxRetries:    15,
			PerTryTimeout: 2 * time.Second,
			Hosts:         []string{hostOf(t, a.URL), hostOf(t, b.URL)},
			Budget:        transport.RetryBudget{Disabled: true},
			OnRetry:       func(transport.RetryEvent) { retries.Add(1) },
		},
		Breaker: transport.BreakerOptions{Disabled: true}, // both instances wait for the same failover
	})

	const calls = 500
	got := make([]string, calls)
	var failed, done atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				status, body, err := pay(client, a.URL, fmt.Sprint("order-", i), fmt.Sprint(i, " EUR"), 60*time.Second)
				done.Add(1)
				if err != nil || status/100 != 2 {
					failed.Add(1)
					t.Errorf("order %d: %d %s %v", i, status, body, err)
					continue
				}
				got[i] = body
			}
		})
	}
	var killed *redistest.Server
	var failover time.Duration
	wg.Go(func() {
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
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	inflight.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	twice, missing, wrong := l.check(got)
	t.Logf("%d keyed payments in %v, master %s killed, replica promoted in %v: %d effects for %d keys, %d charged twice, "+
		"%d acknowledged but missing, %d not the original, %d failed, %d retries",
		calls, time.Since(start).Round(time.Millisecond), killed.Addr, failover.Round(time.Millisecond), l.runs.Load(),
		len(l.charged), twice, missing, wrong, failed.Load(), retries.Load())
	assert.Zero(t, twice, "effects executed twice")
	assert.Zero(t, missing)
	assert.Zero(t, wrong)
	assert.Zero(t, failed.Load())
	require.Equal(t, calls, len(l.charged))
}
