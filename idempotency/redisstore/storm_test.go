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

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/transport"
)

// A duplicate storm: the same key sent by 20 goroutines at once, for 10
// keys at a time, through keyed clients that fail over between two
// instances on one Redis. One of each 20 runs the handler; the others meet
// 409 (in progress) with Retry-After, wait, and get the stored answer. Every
// call gets the original answer, and each payment happens once.
func TestDuplicateStorm(t *testing.T) {
	const keys, senders = 10, 20
	srv := redistest.Start(t, "")
	store := redisstore.New(client(t, srv), "storm:")
	l := &ledger{charged: map[string]int{}, answer: map[string]string{}}
	mw := idempotency.Middleware(idempotency.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	slow := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // long enough for the storm to meet the run
		l.ServeHTTP(w, r)
	}))
	a, b := htu.NewServer(t, slow), htu.NewServer(t, slow)
	base := cleanhttp.DefaultPooledTransport()
	t.Cleanup(base.CloseIdleConnections)
	var conflicts atomic.Int64
	client := transport.NewClientWith(transport.ClientOptions{
		Base:    base,
		Timeout: -1,
		Retry: transport.RetryPolicy{
			MaxRetries: 5,
			Hosts:      []string{hostOf(t, a.URL), hostOf(t, b.URL)},
			Budget:     transport.RetryBudget{Disabled: true}, // a storm is not an outage
			OnRetry: func(e transport.RetryEvent) {
				if e.Attempt.Response != nil && e.Attempt.Response.StatusCode == http.StatusConflict {
					conflicts.Add(1)
				}
			},
		},
	})

	got := make([][]string, keys)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range keys {
		got[k] = make([]string, senders)
		for s := range senders {
			wg.Go(func() {
				status, body, err := pay(client, a.URL, fmt.Sprint("storm-", k), fmt.Sprint(k, " EUR"), 20*time.Second)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, http.StatusCreated, status, "key %d sender %d: %s", k, s, body)
				got[k][s] = body
			})
		}
	}
	wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d keys × %d senders at once in %v: %d effects, %d retries after 409",
		keys, senders, time.Since(start).Round(time.Millisecond), l.runs.Load(), conflicts.Load())
	assert.Equal(t, int64(keys), l.runs.Load(), "one effect per key")
	for k := range keys {
		key := fmt.Sprint("storm-", k)
		assert.Equal(t, 1, l.charged[key])
		for s := range senders {
			assert.Equal(t, l.answer[key], got[k][s], "key %d sender %d: the original answer", k, s)
		}
	}
	assert.Positive(t, conflicts.Load(), "the storm met the run in progress")
}
