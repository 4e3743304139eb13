package transport_test

import (
	"context"
	"net/http"
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
		var retries []int
		rt := transport.Chain(base,
			transport.Retry(transport.RetryPolicy{
				PerTryTimeout: 500 * time.Millisecond,
				OnRetry: func(e transport.RetryEvent) {
					if e.Attempt.Response != nil {
						retries = append(retries, e.Attempt.Response.StatusCode)
					} else {
						retries = append(retries, 0) // an error: the per-try timeout
					}
				},
			}),
			transport.RateLimitWith(transport.RateLimitOptions{}))
		require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		// A second call lands in the cool-down the first one started.
		synctest.Wait()
		require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
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
