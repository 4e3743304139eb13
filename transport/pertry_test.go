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

	"github.com/rtchain/rtchain/transport"
)

// A client-side wait inside Retry (a server's cool-down, 1s) is not the
// network's fault: it must not use up a 500ms per-try timeout.
func TestPerTryTimeoutPausesForClientSideWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				return answer(503, "Retry-After", "1")(), nil
			}
			return answer(200)(), nil
		})
		var (
			mu      sync.Mutex
			retries []int
			second  sync.WaitGroup
			once    sync.Once
			rt      http.RoundTripper
		)
		rt = transport.Chain(base,
			transport.Retry(transport.RetryPolicy{
				PerTryTimeout: 500 * time.Millisecond,
				OnRetry: func(e transport.RetryEvent) {
					mu.Lock()
					defer mu.Unlock()
					code := 0 // an error: the per-try timeout
					if e.Attempt.Response != nil {
						code = e.Attempt.Response.StatusCode
					}
					retries = append(retries, code)
					// A second call now lands in the 1s cool-down the 503 started.
					once.Do(func() {
						second.Go(func() { assert.NoError(t, do(t, rt, context.Background(), "http://a.test/")) })
					})
				},
			}),
			transport.RateLimitWith(transport.RateLimitOptions{}))
		require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		second.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []int{503}, retries, "no per-try timeout while cooling down")
		assert.Equal(t, int32(3), calls.Load())
	})
}

func TestPausePerTryTimeoutStillBoundsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		// Waits 300ms paused, then hangs on the "network" until cancelled.
		base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			attempts.Add(1)
			resume := transport.PausePerTryTimeout(req.Context())
			time.Sleep(300 * time.Millisecond)
			resume()
			<-req.Context().Done()
			return nil, req.Context().Err()
		})
		rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{MaxRetries: -1, PerTryTimeout: 100 * time.Millisecond}))
		start := time.Now()
		err := do(t, rt, context.Background(), "http://a.test/")
		require.ErrorIs(t, err, transport.ErrPerTryTimeout)
		assert.Equal(t, 400*time.Millisecond, time.Since(start), "300ms paused + 100ms on the clock")
		assert.Equal(t, int32(1), attempts.Load())
		assert.NotPanics(t, func() { transport.PausePerTryTimeout(context.Background())() })
	})
}
