package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

var limitOn = transport.LimitOptions{Enabled: true}

// gauge passes requests to next and records how many are in flight: the
// most at once among those that arrived after from.
type gauge struct {
	next          http.RoundTripper
	from          time.Time
	inFlight, top atomic.Int64
	sent          atomic.Int64
}

func (g *gauge) RoundTrip(req *http.Request) (*http.Response, error) {
	g.sent.Add(1)
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	if !time.Now().Before(g.from) {
		for cur := g.top.Load(); n > cur && !g.top.CompareAndSwap(cur, n); cur = g.top.Load() {
		}
	}
	return g.next.RoundTrip(req)
}

// latencyServer answers each request after latency, with no limit and no
// queue: its latency is the work's.
func latencyServer(latency func(*rand.Rand) time.Duration) http.RoundTripper {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(1, 2))
	return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		d := latency(r)
		mu.Unlock()
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			return answer(http.StatusOK)(), nil
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	})
}

func flat(d time.Duration) func(*rand.Rand) time.Duration {
	return func(*rand.Rand) time.Duration { return d }
}

// closedLoop runs callers goroutines, each calling through client one call
// after another, each with deadline, for d, and returns the calls served in
// time.
func closedLoop(client *http.Client, callers int, d, deadline time.Duration) int {
	var served atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range callers {
		wg.Go(func() {
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc.test/", nil)
				if resp, err := client.Do(req); err == nil {
					_ = resp.Body.Close()
					if resp.StatusCode == http.StatusOK && ctx.Err() == nil {
						served.Add(1)
					}
				}
				cancel()
				time.Sleep(time.Millisecond) // a caller that was rejected does not spin
			}
		})
	}
	wg.Wait()
	return int(served.Load())
}

func TestLimitLearnsFromLatency(t *testing.T) {
	t.Run("grows while latency is flat", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := &gauge{next: latencyServer(flat(10 * time.Millisecond)), from: time.Now().Add(4 * time.Second)}
			o := limitOn
			o.Initial = 5
			closedLoop(&http.Client{Transport: transport.Chain(g, transport.Limit(o))}, 100, 5*time.Second, time.Second)
			assert.Greater(t, g.top.Load(), int64(80), "100 callers, flat latency: the limit rises from 5 to let them all in")
		})
	})
	t.Run("falls when latency rises", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// 4 workers, 10 ms each: past 4 in flight, latency grows with
			// the queue.
			// From a start into the crowd, the limit learns the floor by
			// probes, each halving what is in flight: it takes seconds.
			g := &gauge{next: newShedding(4, 10*time.Millisecond, 0, nil), from: time.Now().Add(7 * time.Second)}
			o := limitOn
			o.Initial = 100
			closedLoop(&http.Client{Transport: transport.Chain(g, transport.Limit(o))}, 100, 8*time.Second, time.Second)
			assert.Less(t, g.top.Load(), int64(25), "a queue at the server: the limit falls from 100 toward its 4 workers")
			assert.GreaterOrEqual(t, g.top.Load(), int64(4), "the workers kept busy")
		})
	})
	// A refusal answered at once says nothing of how fast the server works:
	// the limit does not grow on refusals, however fast they come.
	t.Run("refusals teach nothing", func(t *testing.T) {
		for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, transport.StatusOverloaded} {
			t.Run(fmt.Sprint(code), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					g := &gauge{next: transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
						time.Sleep(time.Millisecond)
						return answer(code)(), nil
					})}
					o := limitOn
					o.Initial = 5
					closedLoop(&http.Client{Transport: transport.Chain(g, transport.Limit(o))}, 50, 2*time.Second, time.Second)
					assert.Equal(t, int64(5), g.top.Load())
				})
			})
		}
	})
}

// one is a limit of one attempt in flight per host.
var one = transport.LimitOptions{Enabled: true, Initial: 1, Min: 1, Max: 1}

// hold is a server that holds each request until release is closed.
func hold(release <-chan struct{}) *counting {
	return &counting{next: transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		select {
		case <-release:
			return answer(http.StatusOK)(), nil
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	})}
}

// A slot that does not come in time: the attempt waits half the time its
// call has left, then fails with a RejectedError, unsent, its body closed,
// the caller's request untouched.
func TestLimitRejectsWhatCannotGetASlotInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		srv := hold(release)
		rt := transport.Chain(srv, transport.Limit(one))
		go func() {
			_, _ = rt.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "http://a.test/", nil))
		}()
		synctest.Wait()
		require.EqualValues(t, 1, srv.n.Load())

		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		body := newTrackedBody(strings.NewReader("payload"))
		req := newRequest(t, ctx, http.MethodPost, "http://a.test/", body)
		before := snap(req)
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "half the time the call had left")
		require.Nil(t, resp)
		var rejected *transport.RejectedError
		require.ErrorAs(t, err, &rejected)
		assert.ErrorIs(t, err, transport.ErrRejectedLocally)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, "a.test", rejected.Host)
		assert.Equal(t, transport.RejectLimit, rejected.Kind)
		assert.Equal(t, "transport: rejected locally: host at its concurrency limit of 1: context deadline exceeded", err.Error())
		assert.EqualValues(t, 1, srv.n.Load(), "nothing sent")
		requireClosedOnce(t, body)
		requireUnchanged(t, req, before)

		// A slot that comes in time is taken.
		go func() {
			time.Sleep(30 * time.Millisecond)
			close(release)
		}()
		ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start = time.Now()
		resp, err = rt.RoundTrip(newRequest(t, ctx, http.MethodGet, "http://a.test/", nil))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 30*time.Millisecond, time.Since(start))
	})
	t.Run("without a deadline, the context ends the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			srv := hold(release)
			rt := transport.Chain(srv, transport.Limit(one))
			go func() {
				_, _ = rt.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "http://a.test/", nil))
			}()
			synctest.Wait()
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Hour, cancel)
			body := newTrackedBody(strings.NewReader("payload"))
			start := time.Now()
			_, err := rt.RoundTrip(newRequest(t, ctx, http.MethodPut, "http://a.test/", body))
			assert.ErrorIs(t, err, context.Canceled)
			assert.NotErrorIs(t, err, transport.ErrRejectedLocally)
			assert.Equal(t, time.Hour, time.Since(start))
			requireClosedOnce(t, body)
			assert.EqualValues(t, 1, srv.n.Load())
		})
	})
}

// Retry takes a rejection for a refusal: the call waits, and its retry is
// sent when a slot is free.
func TestLimitRejectionIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &counting{next: latencyServer(flat(300 * time.Millisecond))}
		client := &http.Client{Transport: transport.Chain(srv, transport.Retry(transport.RetryPolicy{}), transport.Limit(one))}
		var wg sync.WaitGroup
		var served atomic.Int64
		for range 2 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				resp, err := client.Do(newRequest(t, ctx, http.MethodPost, "http://a.test/", nil))
				if err == nil {
					resp.Body.Close()
					served.Add(1)
				}
			})
		}
		wg.Wait()
		assert.EqualValues(t, 2, served.Load(), "the second POST waited 500 ms, was rejected, and its retry was served")
		assert.EqualValues(t, 2, srv.n.Load())
	})
}

// Each way an attempt ends gives its slot back: the next attempt gets it at
// once. A response gives it back at its headers, its body still unread.
func TestLimitReleasesOnEveryPath(t *testing.T) {
	for name, tc := range map[string]struct {
		base   func(*http.Request) (*http.Response, error)
		cancel bool // the caller cancels while the attempt is in flight
	}{
		"200, body unread": {base: func(*http.Request) (*http.Response, error) { return answer(http.StatusOK)(), nil }},
		"500":              {base: func(*http.Request) (*http.Response, error) { return answer(http.StatusInternalServerError)(), nil }},
		"504":              {base: func(*http.Request) (*http.Response, error) { return answer(http.StatusGatewayTimeout)(), nil }},
		"503":              {base: func(*http.Request) (*http.Response, error) { return answer(http.StatusServiceUnavailable)(), nil }},
		"transport error":  {base: func(*http.Request) (*http.Response, error) { return nil, errors.New("connection reset") }},
		"rejected below": {base: func(*http.Request) (*http.Response, error) {
			return nil, &transport.RejectedError{Host: "a.test", Reason: "below"}
		}},
		"caller cancel": {cancel: true, base: func(req *http.Request) (*http.Response, error) {
			<-req.Context().Done()
			return nil, req.Context().Err()
		}},
		"deadline": {base: func(req *http.Request) (*http.Response, error) {
			<-req.Context().Done()
			return nil, req.Context().Err()
		}},
		"panic": {base: func(*http.Request) (*http.Response, error) { panic("boom") }},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int64
				rt := transport.Chain(transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
					if calls.Add(1) > 1 {
						return answer(http.StatusOK)(), nil
					}
					return tc.base(req)
				}), transport.Limit(one))
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if tc.cancel {
					time.AfterFunc(10*time.Millisecond, cancel)
				}
				func() {
					defer func() { _ = recover() }()
					if resp, err := rt.RoundTrip(newRequest(t, ctx, http.MethodGet, "http://a.test/", nil)); err == nil {
						defer resp.Body.Close() // after the next attempt
					}
				}()
				ctx, cancel = context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				start := time.Now()
				resp, err := rt.RoundTrip(newRequest(t, ctx, http.MethodGet, "http://a.test/", nil))
				require.NoError(t, err)
				resp.Body.Close()
				assert.Zero(t, time.Since(start), "the slot was free at once")
			})
		})
	}
}

// Each host has a limit of its own: a full host holds back no other.
func TestLimitHostsAreIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		srv := hold(release)
		rt := transport.Chain(srv, transport.Limit(one))
		go func() {
			_, _ = rt.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "http://a.test/", nil))
		}()
		synctest.Wait()
		for _, host := range []string{"b.test", "c.test:8080"} {
			go func() {
				_, _ = rt.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "http://"+host+"/", nil))
			}()
		}
		synctest.Wait()
		assert.EqualValues(t, 3, srv.n.Load(), "b and c were sent while a was full")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := rt.RoundTrip(newRequest(t, ctx, http.MethodGet, "http://A.TEST/", nil))
		assert.ErrorIs(t, err, transport.ErrRejectedLocally, "hosts are case-insensitive")
	})
}

func TestLimitOptions(t *testing.T) {
	t.Run("off unless Enabled", func(t *testing.T) {
		base := &counting{next: canned}
		assert.Same(t, base, transport.Limit(transport.LimitOptions{Max: 10})(base))
	})
	for name, o := range map[string]transport.LimitOptions{
		"negative Initial":        {Initial: -1},
		"negative MaxHosts":       {MaxHosts: -1},
		"Min over Max":            {Enabled: true, Min: 10, Max: 5},
		"Initial outside":         {Initial: 50, Max: 10},
		"Tolerance 1":             {Tolerance: 1},
		"negative, even when off": {Tolerance: -1},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				assert.True(t, strings.HasPrefix(fmt.Sprint(r), "transport: LimitOptions: "), "%v", r)
			}()
			transport.Limit(o)
		})
	}
}

// An attempt that gets a slot at once allocates nothing.
func TestLimitSuccessPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://api.test/items?id=1", nil)
	require.NoError(t, err)
	for name, rt := range map[string]http.RoundTripper{
		"Limit": transport.Chain(canned, transport.Limit(limitOn)),
		"NewClient chain with Limit, timeouts aside": transport.NewClientWith(transport.ClientOptions{
			Base: canned, Timeout: -1, BodyStallTimeout: -1, Limit: limitOn}).Transport,
	} {
		allocs := testing.AllocsPerRun(200, func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
		assert.LessOrEqual(t, allocs, 1.0, "%s: allocations a call beyond the canned response", name)
	}
}

func ExampleLimit() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()

	// Off by default: turn it on for a host whose calls take about the same
	// time, where rising latency means a queue.
	client := transport.NewClientWith(transport.ClientOptions{
		Limit: transport.LimitOptions{Enabled: true},
	})
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello
}
