package transport_test

import (
	"context"
	"errors"
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

// The workload of docs/throttling.md's host-wide bucket rows: 10 goroutines, 100 GETs,
// an origin that rate-limits (a token bucket at 20 r/s, burst 10, 429 +
// Retry-After: 1 beyond it), with and without quota fields, through
// NewClient's chain and through the same chain without pacing. A throttling
// origin is not a failing one: every call succeeds. The figures are logged:
// go test -run TestThrottlingFigures -v ./transport
func TestThrottlingFigures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		announce bool
		pacing   bool
		// maxWasted bounds the 429s the origin sent, with a margin over
		// what the pacer gets (10 without fields: the first herd alone;
		// 0 to 2 with them).
		maxWasted int
	}{
		{"NewClient, no quota fields", false, true, 20},
		{"NewClient, quota fields", true, true, 4},
		{"without pacing (cool-downs only), no quota fields", false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := htu.RateLimited(20, 10, time.Second, htu.OK("ok"))
			if tc.announce {
				origin.AnnounceQuota()
			}
			srv := htu.NewServer(t, origin)
			var gaveUp sync.Map // reason → *atomic.Int32
			client := transport.NewClientWith(transport.ClientOptions{
				Retry: transport.RetryPolicy{OnGiveUp: func(e transport.GiveUpEvent) {
					v, _ := gaveUp.LoadOrStore(e.Reason, new(atomic.Int32))
					v.(*atomic.Int32).Add(1)
				}},
				RateLimit: transport.RateLimitOptions{NoPacing: !tc.pacing},
			})
			t.Cleanup(client.CloseIdleConnections)
			res := htu.Load(client, srv.URL, 10, 100)
			gaveUp.Range(func(k, v any) bool { t.Logf("gave up %d times: %v", v.(*atomic.Int32).Load(), k); return true })
			t.Logf("%s: %d of 100 calls succeeded in %v; the origin served %d and sent %d 429s",
				tc.name, res.OK, res.Took.Round(time.Millisecond), origin.Served(), origin.Throttled())
			assert.Equal(t, 100, res.OK, "first failure: %s", res.FirstFailure)
			if tc.maxWasted > 0 {
				assert.LessOrEqual(t, origin.Throttled(), tc.maxWasted, "429s the origin sent")
			}
		})
	}
}

// The breaker's default rule: 5xx and transport failures count, throttling
// and other 4xx do not.
func TestIsHostFailure(t *testing.T) {
	resp := func(code int, header ...string) *http.Response { return answer(code, header...)() }
	for _, tc := range []struct {
		name string
		resp *http.Response
		err  error
		want bool
	}{
		{"200", resp(200), nil, false},
		{"404", resp(404), nil, false},
		{"408", resp(408), nil, false},
		{"429", resp(429), nil, false},
		{"429 with Retry-After", resp(429, "Retry-After", "1"), nil, false},
		{"403 with Retry-After", resp(403, "Retry-After", "5"), nil, false},
		{"500", resp(500), nil, true},
		{"501", resp(501), nil, false},
		{"502", resp(502), nil, true},
		{"503", resp(503), nil, true},
		{"503 with Retry-After", resp(503, "Retry-After", "1"), nil, true},
		{"504", resp(504), nil, true},
		{"per-try timeout", nil, transport.ErrPerTryTimeout, true},
		{"caller's deadline", nil, context.DeadlineExceeded, false},
		{"unknown error", nil, errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, transport.IsHostFailure(tc.resp, tc.err))
		})
	}
}

// 429s never open a circuit, however many.
func TestBreakerIgnoresThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &switchable{code: 429}
		rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{MinRequests: 2}))
		for range 50 {
			code, err := statusOf(t, rt, "http://a.test/")
			require.NoError(t, err)
			require.Equal(t, 429, code)
		}
		assert.Equal(t, 50, base.count())
	})
}

// A host that hangs is failing: attempts cut by the per-try timeout open the
// circuit, over the network.
func TestBreakerCountsPerTryTimeouts(t *testing.T) {
	srv := htu.NewServer(t, htu.Hang())
	var tr transitions
	rt := transport.Chain(pooledBase(t),
		transport.Retry(transport.RetryPolicy{MaxRetries: -1, PerTryTimeout: 20 * time.Millisecond}),
		transport.Breaker(transport.BreakerOptions{MinRequests: 4, CoolDown: time.Hour, OnStateChange: tr.hook}))
	var timeouts, open int
	for range 12 {
		err := do(t, rt, context.Background(), srv.URL)
		switch {
		case errors.Is(err, transport.ErrCircuitOpen):
			open++
		case errors.Is(err, transport.ErrPerTryTimeout):
			timeouts++
		default:
			t.Fatalf("unexpected outcome: %v", err)
		}
	}
	assert.Equal(t, 4, timeouts, "the circuit opened after MinRequests timeouts")
	assert.Equal(t, 8, open)
	assert.Equal(t, 4, srv.Count(), "an open circuit sends nothing")
	assert.Len(t, tr.list(), 1)
}

// A half-open probe that times out reopens the circuit; one whose caller
// gives up is released and says nothing.
func TestBreakerProbeTimeoutReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hang atomic.Bool
		base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if hang.Load() {
				<-req.Context().Done()
				return nil, req.Context().Err() // what a careless RoundTripper returns
			}
			return answer(500)(), nil
		})
		var tr transitions
		rt := transport.Chain(base,
			transport.Retry(transport.RetryPolicy{MaxRetries: -1, PerTryTimeout: 100 * time.Millisecond}),
			transport.Breaker(transport.BreakerOptions{MinRequests: 1, Probes: 1, CoolDown: time.Second, OnStateChange: tr.hook}))
		_, err := statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		time.Sleep(time.Second)
		hang.Store(true)

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, do(t, rt, ctx, "http://a.test/"), context.DeadlineExceeded)
		assert.Equal(t, []string{"a.test:closed>open", "a.test:open>half-open"}, tr.list(),
			"the caller's deadline released the probe")

		require.ErrorIs(t, do(t, rt, context.Background(), "http://a.test/"), transport.ErrPerTryTimeout)
		assert.Equal(t, []string{"a.test:closed>open", "a.test:open>half-open", "a.test:half-open>open"}, tr.list(),
			"a probe cut by the per-try timeout is a failure")
	})
}

// A 429 that asks for a second or more is waited out without spending
// MaxRetries; the server's waits add up to MaxRetryAfter at most; a 429 that
// asks for no wait counts as any failure does.
func TestThrottledRetriesSpendNoRetries(t *testing.T) {
	for name, tc := range map[string]struct {
		resps    []func() *http.Response
		policy   transport.RetryPolicy
		attempts int
		status   int
		took     time.Duration
		gaveUp   transport.GiveUpReason
	}{
		"five throttles, then served": {
			resps:    []func() *http.Response{answer(429, "Retry-After", "1"), answer(429, "Retry-After", "1"), answer(429, "Retry-After", "1"), answer(429, "Retry-After", "1"), answer(429, "Retry-After", "1"), answer(200)},
			policy:   transport.RetryPolicy{MaxRetries: 3},
			attempts: 6, status: 200, took: 5 * time.Second,
		},
		"throttled past MaxRetryAfter in all": {
			resps:    []func() *http.Response{answer(429, "Retry-After", "2")},
			policy:   transport.RetryPolicy{MaxRetries: 3, MaxRetryAfter: 5 * time.Second},
			attempts: 3, status: 429, took: 4 * time.Second, gaveUp: transport.GiveUpThrottled,
		},
		"Retry-After: 0 counts": {
			resps:    []func() *http.Response{answer(429, "Retry-After", "0")},
			policy:   transport.RetryPolicy{MaxRetries: 3},
			attempts: 4, status: 429, gaveUp: transport.GiveUpMaxRetries,
		},
		"a 503 with Retry-After counts": {
			resps:    []func() *http.Response{answer(503, "Retry-After", "1")},
			policy:   transport.RetryPolicy{MaxRetries: 2},
			attempts: 3, status: 503, took: 2 * time.Second, gaveUp: transport.GiveUpMaxRetries,
		},
		"no retries means none": {
			resps:    []func() *http.Response{answer(429, "Retry-After", "1"), answer(200)},
			policy:   transport.RetryPolicy{MaxRetries: -1},
			attempts: 1, status: 429,
		},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var gaveUp transport.GiveUpReason
				tc.policy.OnGiveUp = func(e transport.GiveUpEvent) { gaveUp = e.Reason }
				s := &scripted{resps: tc.resps}
				resp, took, err := run(t, context.Background(), fast(tc.policy), s)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, tc.status, resp.StatusCode)
				assert.Len(t, s.at, tc.attempts)
				assert.Equal(t, tc.took, took.Round(time.Millisecond))
				assert.Equal(t, tc.gaveUp, gaveUp)
			})
		})
	}
}
