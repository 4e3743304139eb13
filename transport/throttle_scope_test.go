package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// hostWideOff is NewClient's chain without host-wide reactions to
// throttles: what a scoped throttle should cost.
var hostWideOff = transport.ClientOptions{RateLimit: transport.RateLimitOptions{NoCoolDown: true, NoPacing: true}}

// scopedLoad runs htu.ScopedThrottleLoad through NewClientWith(o).
func scopedLoad(t *testing.T, o transport.ClientOptions) (htu.LoadResult, int) {
	t.Helper()
	client := transport.NewClientWith(o)
	t.Cleanup(client.CloseIdleConnections)
	return htu.ScopedThrottleLoad(t, client)
}

// One resource's 429 does not stall the host: NewClient takes at most 1.25×
// the time of the same chain without host-wide reactions, and every call
// succeeds. go test -run TestScopedThrottleFigures -v ./transport
func TestScopedThrottleFigures(t *testing.T) {
	base, _ := scopedLoad(t, hostWideOff)
	got, throttled := scopedLoad(t, transport.ClientOptions{})
	t.Logf("1 resource in 50 throttled once (%d 429s), 8 workers, 800 GETs: NewClient %v, without host-wide reactions %v (%.2f×)",
		throttled, got.Took.Round(time.Millisecond), base.Took.Round(time.Millisecond), got.Took.Seconds()/base.Took.Seconds())
	assert.Equal(t, 800, got.OK, "first failure: %s", got.FirstFailure)
	assert.Equal(t, 800, base.OK, "first failure: %s", base.FirstFailure)
	assert.LessOrEqual(t, got.Took.Seconds(), 1.25*base.Took.Seconds())
}

// refusingLoad runs htu.RefusingLoad through NewClientWith(o).
func refusingLoad(t *testing.T, o transport.ClientOptions, workers, calls int) htu.LoadResult {
	t.Helper()
	client := transport.NewClientWith(o)
	t.Cleanup(client.CloseIdleConnections)
	res, _ := htu.RefusingLoad(t, client, workers, calls)
	return res
}

// A server that refuses whatever the rate is not paced into the ground:
// pacing that does not reduce its throttles is dropped, and the retry
// budget does not spend on waits the server named: every call succeeds, in
// about the time of the chain without host-wide reactions.
// go test -run TestRefusingEndpointFigures -v ./transport
func TestRefusingEndpointFigures(t *testing.T) {
	for _, workers := range []int{8, 1} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			res := refusingLoad(t, transport.ClientOptions{}, workers, 10)
			off := refusingLoad(t, hostWideOff, workers, 10)
			t.Logf("%d workers × 10 keyless POSTs, each first attempt 429 + retry-after-ms: 200: NewClient %d/%d in %v; without host-wide reactions %v",
				workers, res.OK, workers*10, res.Took.Round(time.Millisecond), off.Took.Round(time.Millisecond))
			assert.Equal(t, workers*10, res.OK, "first failure: %s", res.FirstFailure)
			// The goal is 1.2× (2.4 s); the bound leaves room for -race
			// on a loaded machine, and still catches pacing into the
			// ground (37 s for one worker before the scope rule).
			assert.LessOrEqual(t, res.Took.Seconds(), 1.4*off.Took.Seconds())
		})
	}
}

// One resource throttled hard among others that are served: the limit is
// the resource's, and the others are not held back.
func TestAHotResourceDoesNotSlowTheRest(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("cold"))
	srv.Handle("/hot", htu.TooManyRequests(1), htu.TooManyRequests(1), htu.TooManyRequests(1), htu.OK("hot"))
	client := transport.NewClient()
	t.Cleanup(client.CloseIdleConnections)
	ctx := context.Background()
	// Cold traffic first, so that the host is known to serve more than one
	// resource; then three calls to /hot, each throttled once.
	for range 20 {
		require.Equal(t, "cold", getBody(t, client, ctx, srv.URL+"/cold"))
	}
	done := make(chan string, 3)
	for range 3 {
		go func() { done <- getBody(t, client, ctx, srv.URL+"/hot") }()
	}
	start := time.Now()
	for range 20 {
		require.Equal(t, "cold", getBody(t, client, ctx, srv.URL+"/cold"))
	}
	assert.Less(t, time.Since(start), 500*time.Millisecond, "cold calls were not held by /hot's Retry-After: 1")
	for range 3 {
		assert.Equal(t, "hot", <-done)
	}
}

func getBody(t *testing.T, client *http.Client, ctx context.Context, url string) string {
	t.Helper()
	resp, err := client.Do(newRequest(t, ctx, http.MethodGet, url, nil))
	if !assert.NoError(t, err) {
		return ""
	}
	return readAll(t, resp)
}

// The scope rule's trial, in a bubble: a host that throttles every other
// request whatever the rate is paced once, for the trial, then left alone;
// a host whose throttles stop when paced keeps its pace.
func TestHostWideReactionsAreOnTrial(t *testing.T) {
	for _, tc := range []struct {
		name string
		// throttle says whether the n-th request (from 1) is throttled,
		// given how long since the last one was sent.
		throttle func(n int32, gap time.Duration) bool
		paced    bool // still paced at the end
	}{
		{"throttles whatever the rate", func(n int32, _ time.Duration) bool { return n%2 == 1 }, false},
		{"throttles above 80 a second", func(_ int32, gap time.Duration) bool { return gap < 12*time.Millisecond }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var n atomic.Int32
				var last atomic.Int64
				base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
					now := time.Now().UnixNano()
					gap := time.Duration(now - last.Swap(now))
					if tc.throttle(n.Add(1), gap) {
						return answer(429, "Retry-After-Ms", "100")(), nil
					}
					return answer(200)(), nil
				})
				rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{NoCoolDown: true}))
				for range 100 {
					_, _ = statusOf(t, rt, "http://a.test/")
				}
				_, paced := pacedCalls(t, context.Background(), rt, 1, 20)
				if tc.paced {
					assert.Positive(t, paced, "the pace that stopped the throttles is kept")
				} else {
					assert.Zero(t, paced, "a pace that did not help was dropped")
				}
			})
		})
	}
}
