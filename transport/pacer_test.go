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

// throttling is a base that answers 200, or 429 with Retry-After: 1 while
// throttle is set, and counts what it got.
type throttling struct {
	throttle atomic.Bool
	n        atomic.Int32
}

func (b *throttling) RoundTrip(*http.Request) (*http.Response, error) {
	b.n.Add(1)
	if b.throttle.Load() {
		return answer(429, "Retry-After", "1")(), nil
	}
	return answer(200)(), nil
}

// pacedCalls makes n calls to a.test through rt, workers at a time, and
// returns the time they took and the pacing they met.
func pacedCalls(t *testing.T, ctx context.Context, rt http.RoundTripper, workers, n int) (took time.Duration, paced int) {
	t.Helper()
	var mu sync.Mutex
	ctx = transport.WithTrace(ctx, &transport.Trace{Paced: func(e transport.PacedEvent) {
		if e.Reason == transport.PacedByPacer {
			mu.Lock()
			paced++
			mu.Unlock()
		}
	}})
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for range jobs {
				_, err := statusIn(t, ctx, rt, "http://a.test/")
				assert.NoError(t, err)
			}
		})
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return time.Since(start), paced
}

// A host that never throttled is never delayed.
func TestPacerLeavesAQuietHostAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := transport.Chain(&throttling{}, transport.RateLimit(transport.RateLimitOptions{}))
		took, paced := pacedCalls(t, context.Background(), rt, 10, 200)
		assert.Zero(t, took)
		assert.Zero(t, paced)
	})
}

// After a throttle, a herd is spaced out at a rate cut from what was sent,
// and the rate grows back while calls succeed under load; without pacing
// the same herd goes out at once.
func TestPacerSpacesAHerdAfterAThrottle(t *testing.T) {
	for _, pacing := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			base := &throttling{}
			rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{NoPacing: !pacing}))
			_, _ = pacedCalls(t, context.Background(), rt, 10, 10) // 10 in the first second
			base.throttle.Store(true)
			for range 3 { // 3 throttles in 13 answers of the host's one resource: the host's limit
				_, err := statusOf(t, rt, "http://a.test/")
				require.NoError(t, err)
			}
			base.throttle.Store(false)
			time.Sleep(time.Second) // the cool-down

			took, paced := pacedCalls(t, context.Background(), rt, 10, 40)
			if !pacing {
				assert.Zero(t, took)
				return
			}
			// Cut to 0.7 × 13 a second; the burst is the 10 that succeeded.
			assert.Greater(t, paced, 20)
			assert.Greater(t, took, 2*time.Second, "40 calls spaced at about 9 a second, growing")
			assert.Less(t, took, 5*time.Second)
			assert.Equal(t, int32(53), base.n.Load())
		})
	}
}

// The rate grows back along the cubic while calls succeed under load: the
// second half of a long run goes faster than the first.
func TestPacerGrowsBackUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &throttling{}
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
		_, _ = pacedCalls(t, context.Background(), rt, 10, 10)
		base.throttle.Store(true)
		for range 3 {
			_, _ = statusOf(t, rt, "http://a.test/")
		}
		base.throttle.Store(false)
		time.Sleep(time.Second)
		var took []time.Duration
		for range 4 {
			d, _ := pacedCalls(t, context.Background(), rt, 10, 40)
			took = append(took, d)
		}
		assert.Less(t, took[1], took[0], "40 calls at a time: %v", took)
		assert.Less(t, took[3], took[0]*3/4, "40 calls at a time: %v", took)
	})
}

// A call that could not be sent before its deadline fails at once with an
// error that matches context.DeadlineExceeded, and sends nothing.
func TestPacerNeverWaitsPastTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &throttling{}
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
		base.throttle.Store(true)
		for range 10 { // ten sent in the window, all throttled: paced at 7 a second
			_, _ = statusOf(t, rt, "http://a.test/")
		}
		base.throttle.Store(false)
		time.Sleep(time.Second)
		_, err := statusOf(t, rt, "http://a.test/") // takes the one token
		require.NoError(t, err)
		sent := base.n.Load()

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = statusIn(t, ctx, rt, "http://a.test/")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "host paced")
		assert.Zero(t, time.Since(start), "failed at once")
		assert.Equal(t, sent, base.n.Load(), "nothing sent")
	})
}

// A quota that stops being announced stops pacing a host that never
// throttled.
func TestPacerForgetsAStaleQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var announce atomic.Bool
		announce.Store(true)
		base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
			if announce.Load() {
				return answer(200, "RateLimit", `"d";r=0;t=1`, "RateLimit-Policy", `"d";q=2;w=1`)(), nil
			}
			return answer(200)(), nil
		})
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
		took, _ := pacedCalls(t, context.Background(), rt, 1, 5)
		assert.Greater(t, took, time.Second, "2 a second")
		announce.Store(false)
		_, _ = statusOf(t, rt, "http://a.test/")
		time.Sleep(2 * time.Second) // the quota was good for 1s
		took, paced := pacedCalls(t, context.Background(), rt, 5, 50)
		assert.Zero(t, took)
		assert.Zero(t, paced)
	})
}
