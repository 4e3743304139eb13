package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// timedBase answers 200 (or what answer says) and records when each request
// reached it, by host.
type timedBase struct {
	mu     sync.Mutex
	at     map[string][]time.Duration
	start  time.Time
	answer func(*http.Request) *http.Response
}

func newTimedBase() *timedBase {
	return &timedBase{at: map[string][]time.Duration{}, start: time.Now()}
}

func (b *timedBase) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.at[req.URL.Host] = append(b.at[req.URL.Host], time.Since(b.start))
	b.mu.Unlock()
	if b.answer != nil {
		return b.answer(req), nil
	}
	return answer(200)(), nil
}

func do(t *testing.T, rt http.RoundTripper, ctx context.Context, url string) error {
	t.Helper()
	resp, err := rt.RoundTrip(newRequest(t, ctx, http.MethodGet, url, nil))
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestRateLimitOneTokenPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newTimedBase()
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{Limiter: rate.NewLimiter(1, 1)}))
		for range 3 {
			require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		}
		assert.Equal(t, []time.Duration{0, time.Second, 2 * time.Second}, base.at["a.test"])
	})
}

func TestRateLimitPerHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newTimedBase()
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{PerHost: 1}))
		for _, h := range []string{"a", "b", "a", "B"} {
			require.NoError(t, do(t, rt, context.Background(), "http://"+h+".test/"))
		}
		assert.Equal(t, []time.Duration{0, time.Second}, base.at["a.test"])
		assert.Equal(t, time.Duration(0), base.at["b.test"][0])
		assert.Equal(t, []time.Duration{time.Second}, base.at["B.test"], "hosts are case-insensitive: B waited for b's token")
	})
}

func TestRateLimitWaitEndsWithTheContext(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := newTimedBase()
			rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{Limiter: rate.NewLimiter(rate.Every(time.Hour), 1)}))
			require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Second, cancel)
			body := newTrackedBody(strings.NewReader("x"))
			start := time.Now()
			_, err := rt.RoundTrip(newRequest(t, ctx, http.MethodPut, "http://a.test/", body))
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, time.Second, time.Since(start))
			assert.Len(t, base.at["a.test"], 1, "nothing sent")
			assert.Equal(t, int32(1), body.closes.Load())
		})
	})
	t.Run("deadline too near: at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rt := transport.Chain(newTimedBase(), transport.RateLimit(transport.RateLimitOptions{Limiter: rate.NewLimiter(rate.Every(time.Hour), 1)}))
			require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			require.ErrorIs(t, do(t, rt, ctx, "http://a.test/"), context.DeadlineExceeded)
			assert.Zero(t, time.Since(start))
		})
	})
}

func TestRateLimitCoolDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := newTimedBase()
		var n atomic.Int32
		base.answer = func(r *http.Request) *http.Response {
			if r.URL.Host == "a.test" && n.Add(1) <= 10 {
				return answer(429, "Retry-After", "5")()
			}
			return answer(200)()
		}
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{NoPacing: true}))
		for range 10 { // every answer of a.test's one resource a 429: the host's limit
			require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		require.ErrorIs(t, do(t, rt, ctx, "http://a.test/"), context.DeadlineExceeded, "a cool-down past the deadline fails at once")
		require.NoError(t, do(t, rt, context.Background(), "http://b.test/"))
		require.NoError(t, do(t, rt, context.Background(), "http://a.test/"))
		assert.Equal(t, append(make([]time.Duration, 10), 5*time.Second), base.at["a.test"], "a waited out its cool-down")
		assert.Equal(t, []time.Duration{0}, base.at["b.test"], "b was not held back")
	})
}

// 20 goroutines call a host whose first ten answers are 429 Retry-After:
// 1, the host's whole traffic; the server must see nothing more during that
// second.
func TestRateLimitCoolDownIsSharedAcrossGoroutines(t *testing.T) {
	var first atomic.Int64 // when the last 429 was sent, Unix nanoseconds
	throttle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Store(time.Now().UnixNano())
		htu.TooManyRequests(1).ServeHTTP(w, r)
	})
	steps := []http.Handler{}
	for range 10 {
		steps = append(steps, throttle)
	}
	srv := htu.NewServer(t, append(steps, htu.OK("fine"))...)
	release := make(chan struct{})
	var retries atomic.Int32
	client := chainClient(t,
		transport.Retry(fast(transport.RetryPolicy{
			OnRetry: func(transport.RetryEvent) {
				if retries.Add(1) == 10 {
					close(release)
				}
			},
		})),
		transport.RateLimit(transport.RateLimitOptions{}))

	var wg sync.WaitGroup
	call := func() {
		resp, err := client.Get(srv.URL)
		if assert.NoError(t, err) {
			assert.Equal(t, "fine", readAll(t, resp))
		}
	}
	for range 10 {
		wg.Go(call)
	}
	<-release // the 429s are in: now the other 10 start
	for range 10 {
		wg.Go(call)
	}
	wg.Wait()

	reqs := srv.Requests()
	require.Len(t, reqs, 30, "20 calls and ten retries")
	reqs = reqs[9:]                                                      // from the tenth 429 on
	quietUntil := time.Unix(0, first.Load()).Add(900 * time.Millisecond) // Retry-After is whole seconds
	for i, r := range reqs[1:] {
		assert.False(t, r.At.Before(quietUntil), "request %d came %v after the 429", i+2, r.At.Sub(time.Unix(0, first.Load())))
	}
}

func TestRateLimitHostsAreBounded(t *testing.T) {
	rt := transport.RateLimit(transport.RateLimitOptions{PerHost: rate.Inf, MaxHosts: 8})(newTimedBase())
	for i := range 100 {
		require.NoError(t, do(t, rt, context.Background(), fmt.Sprintf("http://h%d.test/", i)))
	}
	assert.LessOrEqual(t, transport.HostCount(rt), 8)
}
