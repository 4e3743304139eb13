package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// coolingHost returns RateLimit over a host whose ten answers to one
// resource, accepted of them 200 and the rest 429 Retry-After: 1, engaged
// a host-wide cool-down of 1 s that ends a second from now; it answers 200
// from now on.
func coolingHost(t *testing.T, o transport.RateLimitOptions, accepted int) (http.RoundTripper, *throttling) {
	t.Helper()
	base := &throttling{}
	rt := transport.Chain(base, transport.RateLimit(o))
	for i := range 10 { // 3 throttles first, to start the count of what the host accepts
		base.throttle.Store(i < 3 || i >= 3+accepted)
		_, err := statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
	}
	base.throttle.Store(false)
	return rt, base
}

func TestRateLimitHoldsOnlyWhatCanAffordThem(t *testing.T) {
	for _, tc := range []struct {
		name     string
		accepted int           // answers the host accepted in the last second
		timeout  time.Duration // the call's; 0 for none
		wait     time.Duration // how long the call waited before it was sent; -1 for never sent
	}{
		{"accepting nothing, 500ms left", 0, 500 * time.Millisecond, -1},
		{"accepting nothing, 1.5s left", 0, 1500 * time.Millisecond, -1}, // the hold ends past half the time left
		{"accepting 2, 500ms left", 2, 500 * time.Millisecond, -1},
		{"accepting 3, 500ms left", 3, 500 * time.Millisecond, 0},
		{"accepting 3, 1.5s left", 3, 1500 * time.Millisecond, 0},
		{"accepting nothing, 3s left", 0, 3 * time.Second, time.Second},
		{"accepting 3, 3s left", 3, 3 * time.Second, time.Second},
		{"accepting nothing, no deadline", 0, 0, time.Second},
		{"accepting 3, no deadline", 3, 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt, base := coolingHost(t, transport.RateLimitOptions{NoPacing: true}, tc.accepted)
				sent := base.n.Load()
				ctx := context.Background()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				}
				start := time.Now()
				code, err := statusIn(t, ctx, rt, "http://a.test/")
				if tc.wait < 0 {
					assert.Zero(t, time.Since(start), "failed at once")
					require.ErrorIs(t, err, transport.ErrRejectedLocally)
					require.ErrorIs(t, err, context.DeadlineExceeded)
					var rejected *transport.RejectedError
					require.ErrorAs(t, err, &rejected)
					assert.Equal(t, transport.RejectedError{Host: "a.test", Kind: transport.RejectCoolDown, Reason: "host cooling down for 1s", Wait: time.Second, Deadline: true}, *rejected)
					assert.Equal(t, sent, base.n.Load(), "nothing sent")
					return
				}
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, code)
				assert.Equal(t, tc.wait, time.Since(start))
				assert.Equal(t, sent+1, base.n.Load())
			})
		})
	}
	t.Run("a paced call waits at most half its time left", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &throttling{}
			rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
			base.throttle.Store(true)
			for range 10 { // ten sent in the window, all throttled: paced at 7 a second
				_, _ = statusOf(t, rt, "http://a.test/")
			}
			base.throttle.Store(false)
			time.Sleep(time.Second)
			_, err := statusOf(t, rt, "http://a.test/") // takes the one token: the next in 1/7 s
			require.NoError(t, err)
			sent := base.n.Load()

			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err = statusIn(t, ctx, rt, "http://a.test/")
			assert.Zero(t, time.Since(start), "failed at once")
			require.ErrorIs(t, err, transport.ErrRejectedLocally)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			var rejected *transport.RejectedError
			require.ErrorAs(t, err, &rejected)
			assert.Contains(t, rejected.Reason, "host paced")
			assert.Equal(t, transport.RejectPace, rejected.Kind)
			assert.InDelta(t, time.Second/7, rejected.Wait, float64(5*time.Millisecond))
			assert.Equal(t, sent, base.n.Load(), "nothing sent")

			ctx, cancel = context.WithTimeout(context.Background(), 400*time.Millisecond)
			defer cancel()
			start = time.Now()
			code, err := statusIn(t, ctx, rt, "http://a.test/")
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
			assert.InDelta(t, time.Second/7, time.Since(start), float64(5*time.Millisecond), "waited its turn")
			assert.Equal(t, sent+1, base.n.Load())
		})
	})
}

// attemptCount is what an open-loop run of attempts came to.
type attemptCount struct {
	attempts, rejected, other int64 // other: errors that were not local rejections
	// After the first second: attempts sent, and accepted (200), by the host.
	sentLate, acceptedLate int64
}

// offerAttempts sends rate GETs a second for d through Chain(host, mws...),
// each on its own goroutine, and counts what became of them.
func offerAttempts(host http.RoundTripper, rate int, d time.Duration, mws ...transport.Middleware) attemptCount {
	var c attemptCount
	start := time.Now()
	counted := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		late := time.Since(start) >= time.Second
		if late {
			atomic.AddInt64(&c.sentLate, 1)
		}
		resp, err := host.RoundTrip(req)
		if late && err == nil && resp.StatusCode == http.StatusOK {
			atomic.AddInt64(&c.acceptedLate, 1)
		}
		return resp, err
	})
	rt := transport.Chain(counted, mws...)
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	for i := range int(d / interval) {
		if i > 0 {
			time.Sleep(interval)
		}
		c.attempts++
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://svc.test/", nil)
			resp, err := rt.RoundTrip(req)
			switch {
			case err == nil:
				_ = resp.Body.Close()
			case errors.Is(err, transport.ErrRejectedLocally):
				atomic.AddInt64(&c.rejected, 1)
			default:
				atomic.AddInt64(&c.other, 1)
			}
		})
	}
	wg.Wait()
	return c
}

func TestThrottleSendsAHostWhatItAccepts(t *testing.T) {
	// A host that serves 100 a second (4 at a time, 40 ms each) and
	// refuses the rest at once, offered 1,000 attempts a second.
	host := func() *shedding { return newShedding(4, 40*time.Millisecond, 4, answer(http.StatusServiceUnavailable)) }
	t.Run("throttled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := host()
			c := offerAttempts(srv, 1000, 3*time.Second, transport.RateLimit(transport.RateLimitOptions{}))
			t.Logf("%+v, sent %d", c, srv.sent.Load())
			assert.Zero(t, c.other)
			assert.Equal(t, c.attempts, srv.sent.Load()+c.rejected, "what was not sent was rejected locally")
			assert.LessOrEqual(t, float64(c.sentLate), 3.5*float64(c.acceptedLate), "sent after the first second")
			assert.GreaterOrEqual(t, float64(c.sentLate), 2*float64(c.acceptedLate), "sent after the first second")
			assert.GreaterOrEqual(t, c.acceptedLate, int64(160), "the host was kept busy: 80% of its 200 in 2 s")
		})
	})
	t.Run("NoThrottle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := host()
			c := offerAttempts(srv, 1000, 3*time.Second, transport.RateLimit(transport.RateLimitOptions{NoThrottle: true}))
			t.Logf("%+v, sent %d", c, srv.sent.Load())
			assert.Zero(t, c.rejected)
			assert.Equal(t, c.attempts, srv.sent.Load())
		})
	})
}

func TestThrottleLeavesAloneWhatItCannotHelp(t *testing.T) {
	t.Run("a host that refuses a share whatever the rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := &refusingShare{of: 4, refusal: answer(http.StatusServiceUnavailable)}
			c := offerAttempts(srv, 1000, 5*time.Second, transport.RateLimit(transport.RateLimitOptions{}))
			t.Logf("%+v, sent %d", c, srv.sent.Load())
			assert.Positive(t, c.rejected, "throttled on trial")
			assert.GreaterOrEqual(t, float64(srv.sent.Load()), 0.9*float64(c.attempts), "the trial failed: the throttle turned itself off")
		})
	})
	t.Run("a host that refuses each call's first attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				if transport.AttemptFromContext(req.Context()) == 1 {
					return answer(http.StatusServiceUnavailable)(), nil // at once
				}
				time.Sleep(20 * time.Millisecond) // work takes time
				return answer(http.StatusOK)(), nil
			})
			var rejections atomic.Int64
			counter := func(next http.RoundTripper) http.RoundTripper {
				return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
					resp, err := next.RoundTrip(req)
					if errors.Is(err, transport.ErrRejectedLocally) {
						rejections.Add(1)
					}
					return resp, err
				})
			}
			c := offerAttempts(srv, 1000, 3*time.Second,
				transport.Retry(transport.RetryPolicy{Budget: transport.RetryBudget{Disabled: true}}),
				counter, transport.RateLimit(transport.RateLimitOptions{}))
			t.Logf("%+v", c)
			assert.Zero(t, rejections.Load())
			assert.Zero(t, c.rejected+c.other, "every call succeeded")
		})
	})
	t.Run("a host sent fewer than 20 attempts a second", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := &refusingShare{of: 4, refusal: answer(http.StatusServiceUnavailable)}
			c := offerAttempts(srv, 10, 5*time.Second, transport.RateLimit(transport.RateLimitOptions{}))
			assert.Zero(t, c.rejected, "too few to judge the host by")
			assert.Equal(t, c.attempts, srv.sent.Load())
		})
	})
	t.Run("a scattered refusal", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var n atomic.Int64
			srv := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
				time.Sleep(5 * time.Millisecond)
				if n.Add(1)%100 == 0 {
					return answer(http.StatusServiceUnavailable)(), nil
				}
				return answer(http.StatusOK)(), nil
			})
			c := offerAttempts(srv, 1000, 3*time.Second, transport.RateLimit(transport.RateLimitOptions{}))
			assert.Zero(t, c.rejected)
			assert.Equal(t, c.attempts, n.Load())
		})
	})
}

// The sqlstore scenario: a service whose sessions fail over
// answers each payment's first request 503 (its session is gone) and
// serves the retry. Every payment goes through; with 503 counted as a
// failure, the breaker opened on the 11th (half of 20 answers failed).
func TestKeyedPaymentsAcrossASessionFailover(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		first := !seen[key]
		seen[key] = true
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After-Ms", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	var tr transitions
	client := transport.NewClientWith(transport.ClientOptions{
		Base: pooledBase(t), IdempotencyKeys: true, Breaker: transport.BreakerOptions{OnStateChange: tr.hook},
	})
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := newRequest(t, ctx, http.MethodPost, srv.URL+"/payments", strings.NewReader(fmt.Sprintf(`{"amount":%d}`, i+1)))
		resp, err := client.Do(req)
		require.NoError(t, err, "payment %d", i+1)
		_ = resp.Body.Close()
		cancel()
		assert.Equal(t, http.StatusCreated, resp.StatusCode, "payment %d", i+1)
	}
	assert.Equal(t, 80, srv.Count(), "each payment: a refusal and its retry")
	assert.Len(t, seen, 40, "a key per payment")
	assert.Empty(t, tr.list())
}
