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
			transport.RateLimit(transport.RateLimitOptions{}))
		require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		second.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []int{503}, retries, "no per-try timeout while cooling down")
		assert.Equal(t, int32(3), calls.Load())
	})
}

// hanging is a base that never answers: each attempt, counted in attempts,
// waits for its context to end.
func hanging(attempts *atomic.Int32) http.RoundTripper {
	return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		attempts.Add(1)
		<-req.Context().Done()
		return nil, req.Context().Err()
	})
}

// The clock runs below every layer of a Chain: a middleware inside Retry
// that waits on the client's side (300ms here) spends none of it, and the
// time on the network is still bounded.
func TestPerTryTimeoutCountsOnlyTheNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		hang := hanging(&attempts)
		queue := func(next http.RoundTripper) http.RoundTripper {
			return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				time.Sleep(300 * time.Millisecond) // a client-side queue
				return next.RoundTrip(req)
			})
		}
		rt := transport.Chain(hang, transport.Retry(transport.RetryPolicy{MaxRetries: -1, PerTryTimeout: 100 * time.Millisecond}), queue)
		start := time.Now()
		err := do(t, rt, context.Background(), "http://a.test/")
		require.ErrorIs(t, err, transport.ErrPerTryTimeout)
		assert.Equal(t, 400*time.Millisecond, time.Since(start), "300ms queued + 100ms on the clock")
		assert.Equal(t, int32(1), attempts.Load())
	})
}

// A layer between Retry and the base sees an attempt cut by the clock as an
// error from below, with its own context intact: the caller did not give up.
func TestPerTryTimeoutIsAnErrorFromBelow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := hanging(new(atomic.Int32))
		var seen error
		var ctxErr error
		spy := func(next http.RoundTripper) http.RoundTripper {
			return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				resp, err := next.RoundTrip(req)
				seen, ctxErr = err, req.Context().Err()
				return resp, err
			})
		}
		rt := transport.Chain(hang, transport.Retry(transport.RetryPolicy{MaxRetries: -1, PerTryTimeout: 100 * time.Millisecond}), spy)
		require.ErrorIs(t, do(t, rt, context.Background(), "http://a.test/"), transport.ErrPerTryTimeout)
		require.ErrorIs(t, seen, transport.ErrPerTryTimeout)
		assert.True(t, transport.IsTransientError(seen))
		assert.NoError(t, ctxErr, "the attempt's context above the clock is not cancelled")
	})
}

// Retry used without Chain still has a clock: just inside it.
func TestPerTryTimeoutWithoutChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var attempts atomic.Int32
		hang := hanging(&attempts)
		rt := transport.Retry(transport.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, PerTryTimeout: 100 * time.Millisecond})(hang)
		err := do(t, rt, context.Background(), "http://a.test/")
		require.ErrorIs(t, err, transport.ErrPerTryTimeout)
		assert.Equal(t, int32(2), attempts.Load(), "a per-try timeout is retried")
	})
}

// The response that comes back in time stays readable after the clock
// would have run out, and closing it releases the attempt's context once.
func TestPerTryTimeoutLeavesTheBodyReadable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var attemptCtx context.Context
		base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			attemptCtx = req.Context()
			return answer(200)(), nil
		})
		rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{PerTryTimeout: 100 * time.Millisecond}))
		req, err := http.NewRequest(http.MethodGet, "http://a.test/", nil)
		require.NoError(t, err)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		time.Sleep(time.Second)
		require.NoError(t, attemptCtx.Err(), "the clock stopped when the headers came")
		require.NoError(t, resp.Body.Close())
		require.NoError(t, resp.Body.Close())
		assert.ErrorIs(t, attemptCtx.Err(), context.Canceled, "Close released the attempt")
	})
}
