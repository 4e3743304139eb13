package transport_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// amplification sends calls GETs, 10 at a time, to a server that answers
// 503 to everything, and returns requests seen ÷ calls made and how many
// calls the budget stopped.
func amplification(t *testing.T, calls int, budget transport.RetryBudget) (float64, int64) {
	t.Helper()
	srv := htu.NewServer(t, htu.Status(http.StatusServiceUnavailable))
	var stopped atomic.Int64
	client, _ := newRetrying(t, fast(transport.RetryPolicy{
		MaxRetries: 3,
		Budget:     budget,
		OnGiveUp: func(e transport.GiveUpEvent) {
			if e.Reason == transport.GiveUpBudget {
				stopped.Add(1)
			}
		},
	}))
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range work {
				resp, err := client.Get(srv.URL)
				if assert.NoError(t, err) {
					readAll(t, resp)
					assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
				}
			}
		})
	}
	for range calls {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	return float64(srv.Count()) / float64(calls), stopped.Load()
}

// The figure in docs/contract.md: go test -run TestBudgetAmplification -v ./transport
func TestBudgetAmplification(t *testing.T) {
	const calls = 1000
	with, stopped := amplification(t, calls, transport.RetryBudget{})
	without, _ := amplification(t, calls, transport.RetryBudget{Disabled: true})
	t.Logf("server-seen requests per call, 503 to all, %d calls, MaxRetries 3: %.3f with the default budget, %.3f without",
		calls, with, without)
	assert.LessOrEqual(t, with, 1.2)
	assert.GreaterOrEqual(t, with, 1.0, "every call's first attempt was sent")
	assert.Equal(t, 4.0, without)
	assert.Positive(t, stopped, "OnGiveUp says the budget stopped retries")
}

// fail503 is a base that answers 503 and counts requests per host.
type fail503 struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *fail503) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[req.URL.Host]++
	f.mu.Unlock()
	return answer(503)(), nil
}

func TestBudgetFloorAndHosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &fail503{}
		rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{
			MaxRetries: 1, BaseDelay: time.Nanosecond,
			Budget: transport.RetryBudget{Ratio: 0.01, MaxBanked: 2, MinPerSecond: 1},
		}))
		for range 10 {
			require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		}
		// 2 banked + 1 from the floor; the deposits (0.1 in all) buy none.
		assert.Equal(t, 10+3, base.n["a.test"])

		require.NoError(t, do(t, rt, context.Background(), "http://b.test/"))
		assert.Equal(t, 2, base.n["b.test"], "another host has its own budget")

		time.Sleep(time.Second) // a quiet second refills the floor
		require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		assert.Equal(t, 13+2, base.n["a.test"], "a low-traffic client can still retry")
	})
}

func TestBudgetConfigPanics(t *testing.T) {
	assert.Panics(t, func() { transport.Retry(transport.RetryPolicy{Budget: transport.RetryBudget{Ratio: -1}}) })
}

// A wait the server named for a refusal spends no retry budget: against an
// endpoint that refuses each call's first attempt with retry-after-ms, every
// call gets through with a budget that allows no retries of its own, and
// the same budget still stops retries of a 503 that named no wait.
func TestNamedWaitsSpendNoBudget(t *testing.T) {
	empty := transport.RetryBudget{Ratio: 0.001, MinPerSecond: -1, MaxBanked: 0.001}
	for _, tc := range []struct {
		name    string
		refusal http.Handler
		ok      int // calls of 20 that end 200
	}{
		{"429 retry-after-ms: 5", htu.Respond(429, http.Header{"Retry-After-Ms": {"5"}}, ""), 20},
		{"503 Retry-After: 1 (synctest)", nil, 20},
		{"503 without a wait", htu.Status(503), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var budgetStops atomic.Int32
			p := fast(transport.RetryPolicy{Budget: empty, OnGiveUp: func(e transport.GiveUpEvent) {
				if e.Reason == transport.GiveUpBudget {
					budgetStops.Add(1)
				}
			}})
			if tc.refusal == nil { // a named wait of a second, in a bubble
				synctest.Test(t, func(t *testing.T) {
					var n atomic.Int32
					base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
						if n.Add(1)%2 == 1 {
							return answer(503, "Retry-After", "1")(), nil
						}
						return answer(200)(), nil
					})
					rt := transport.Chain(base, transport.Retry(p))
					for range 20 {
						code, err := statusIn(t, context.Background(), rt, "http://a.test/")
						require.NoError(t, err)
						assert.Equal(t, http.StatusOK, code)
					}
					assert.Equal(t, int32(40), n.Load())
				})
				assert.Zero(t, budgetStops.Load())
				return
			}
			var ok int
			for i := range 20 {
				srv := htu.NewServer(t, tc.refusal, htu.OK("done"))
				client, _ := newRetrying(t, p)
				req := newRequest(t, context.Background(), http.MethodPost, srv.URL, nil)
				resp, err := client.Do(req)
				require.NoError(t, err, "call %d", i)
				readAll(t, resp)
				if resp.StatusCode == http.StatusOK {
					ok++
				}
			}
			assert.Equal(t, tc.ok, ok)
			if tc.ok == 0 {
				assert.Equal(t, int32(20), budgetStops.Load(), "the budget stopped every retry")
			} else {
				assert.Zero(t, budgetStops.Load())
			}
		})
	}
}
