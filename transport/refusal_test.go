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

// Refusals (503, 529, a local rejection) are the host declining work, not
// failing at it: the breaker, Retry and RateLimit each treat them so.

// rtFunc is a RoundTripper made of a function.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// rejectLocally is the error RateLimit returns for an attempt it did not
// send, as a RoundTripper below Retry or Breaker returns it.
func rejectLocally(req *http.Request, wait time.Duration, deadline bool) error {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &transport.RejectedError{Host: req.URL.Host, Reason: "test", Wait: wait, Deadline: deadline}
}

// verdicts answers with the status in code, or, while code is 0, rejects
// each attempt locally; it counts what it was sent.
type verdicts struct {
	code atomic.Int32
	n    atomic.Int32
}

func (v *verdicts) RoundTrip(req *http.Request) (*http.Response, error) {
	v.n.Add(1)
	if code := v.code.Load(); code != 0 {
		return answer(int(code))(), nil
	}
	return nil, rejectLocally(req, 0, false)
}

func TestBreakerRefusals(t *testing.T) {
	const url = "http://a.test/"
	t.Run("a host that sheds a share is never cut off", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var n atomic.Int64
			base := rtFunc(func(*http.Request) (*http.Response, error) {
				if n.Add(1)%3 == 0 {
					return answer(http.StatusOK)(), nil
				}
				return answer(http.StatusServiceUnavailable)(), nil // 2 in 3
			})
			var tr transitions
			rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{OnStateChange: tr.hook}))
			for i := range 500 { // 100 a second for 5 s
				_, err := statusOf(t, rt, url)
				require.NoError(t, err, "request %d, at %v", i+1, i*10)
				time.Sleep(10 * time.Millisecond)
			}
			assert.Empty(t, tr.list())
		})
	})
	t.Run("a host that refuses everything opens after a second", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &switchable{code: http.StatusServiceUnavailable}
			var tr transitions
			rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{OnStateChange: tr.hook}))
			start := time.Now()
			for time.Since(start) <= 900*time.Millisecond { // 91 refusals, 4.5 times MinRequests
				code, err := statusOf(t, rt, url)
				require.NoError(t, err, "at %v", time.Since(start))
				require.Equal(t, http.StatusServiceUnavailable, code)
				time.Sleep(10 * time.Millisecond)
			}
			require.Empty(t, tr.list(), "open at 900ms")
			var err error
			for err == nil && time.Since(start) < 2*time.Second {
				time.Sleep(10 * time.Millisecond)
				_, err = statusOf(t, rt, url)
			}
			require.ErrorIs(t, err, transport.ErrCircuitOpen)
			assert.Equal(t, 1010*time.Millisecond, time.Since(start), "the refusal at 1s opened it")
			assert.Equal(t, []string{"a.test:closed>open"}, tr.list())
		})
	})
	t.Run("a refused probe reopens", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &switchable{code: http.StatusServiceUnavailable}
			var tr transitions
			rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{CoolDown: time.Second, OnStateChange: tr.hook}))
			for {
				if _, err := statusOf(t, rt, url); err != nil {
					require.ErrorIs(t, err, transport.ErrCircuitOpen)
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(time.Second)
			code, err := statusOf(t, rt, url) // the probe
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, code)
			sent := base.count()
			_, err = statusOf(t, rt, url)
			require.ErrorIs(t, err, transport.ErrCircuitOpen, "the probe's refusal reopened the circuit")
			assert.Equal(t, sent, base.count())
			assert.Equal(t, []string{"a.test:closed>open", "a.test:open>half-open", "a.test:half-open>open"}, tr.list())
		})
	})
	t.Run("an IsFailure that claims 503 opens at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &switchable{code: http.StatusServiceUnavailable}
			var tr transitions
			rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{IsFailure: transport.IsHostFailure, OnStateChange: tr.hook}))
			start := time.Now()
			for range transport.DefaultBreakerMinRequests {
				_, err := statusOf(t, rt, url)
				require.NoError(t, err)
			}
			_, err := statusOf(t, rt, url)
			require.ErrorIs(t, err, transport.ErrCircuitOpen)
			assert.Zero(t, time.Since(start))
			assert.Equal(t, transport.DefaultBreakerMinRequests, base.count())
			assert.Equal(t, []string{"a.test:closed>open"}, tr.list())
		})
	})
	t.Run("a local rejection counts as nothing and releases its probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &verdicts{} // rejects locally
			var tr transitions
			rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{
				MinRequests: 4, CoolDown: time.Second, Probes: 1, OnStateChange: tr.hook,
			}))
			fail := func(n int) {
				t.Helper()
				base.code.Store(http.StatusInternalServerError)
				for range n {
					code, err := statusOf(t, rt, url)
					require.NoError(t, err)
					require.Equal(t, http.StatusInternalServerError, code)
				}
				base.code.Store(0)
			}
			fail(1) // the window begins
			// Counted as successes, these would keep 4 failures from
			// opening the circuit; as failures, they would open it.
			for range 10 {
				_, err := statusOf(t, rt, url)
				require.ErrorIs(t, err, transport.ErrRejectedLocally)
			}
			assert.Empty(t, tr.list(), "counted as failures, they opened it")
			fail(3)
			_, err := statusOf(t, rt, url)
			require.ErrorIs(t, err, transport.ErrCircuitOpen, "4 failures of 4 answers")

			time.Sleep(time.Second)
			_, err = statusOf(t, rt, url) // the one probe, rejected below
			require.ErrorIs(t, err, transport.ErrRejectedLocally)
			require.NotErrorIs(t, err, transport.ErrCircuitOpen)
			assert.Equal(t, []string{"a.test:closed>open", "a.test:open>half-open"}, tr.list(), "a rejected probe neither closes nor reopens")
			base.code.Store(http.StatusOK)
			code, err := statusOf(t, rt, url) // the probe was released: another goes
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, []string{"a.test:closed>open", "a.test:open>half-open", "a.test:half-open>closed"}, tr.list())
		})
	})
}

// rejectingFirst rejects the first `rejections` attempts of each call
// locally, with wait (and deadline), then answers with then; it records the
// body of every attempt.
type rejectingFirst struct {
	rejections int
	wait       time.Duration
	deadline   bool
	then       func() *http.Response

	mu     sync.Mutex
	bodies []string
}

func (s *rejectingFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	var body string
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		body = string(b)
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
	if transport.AttemptFromContext(req.Context()) <= s.rejections {
		return nil, rejectLocally(req, s.wait, s.deadline)
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return s.then(), nil
}

func (s *rejectingFirst) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// giveUps records the reasons Retry gave up for.
type giveUps struct {
	mu  sync.Mutex
	got []transport.GiveUpReason
}

func (g *giveUps) hook(e transport.GiveUpEvent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got = append(g.got, e.Reason)
}

func (g *giveUps) list() []transport.GiveUpReason {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]transport.GiveUpReason(nil), g.got...)
}

// postPayment sends a POST without an Idempotency-Key through rt, and
// checks that the caller's request comes back unchanged, its body closed
// once.
func postPayment(t *testing.T, ctx context.Context, rt http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	body := newTrackedBody(strings.NewReader("amount=10"))
	req := newRequest(t, ctx, http.MethodPost, url, body)
	before := snap(req)
	resp, err := rt.RoundTrip(req)
	requireUnchanged(t, req, before)
	requireClosedOnce(t, body)
	return resp, err
}

func TestRetryTakesALocalRejectionForARefusal(t *testing.T) {
	const url = "http://api.test/payments"
	t.Run("a POST is retried after exactly Wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &rejectingFirst{rejections: 1, wait: 300 * time.Millisecond, then: answer(http.StatusCreated)}
			rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{}))
			start := time.Now()
			resp, err := postPayment(t, context.Background(), rt, url)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusCreated, resp.StatusCode)
			assert.Equal(t, 300*time.Millisecond, time.Since(start))
			assert.Equal(t, []string{"amount=10", "amount=10"}, base.sent(), "the whole body, twice")
		})
	})
	t.Run("without a Wait, the usual backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &rejectingFirst{rejections: 2, then: answer(http.StatusCreated)}
			rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{
				Backoff: func(transport.Attempt) time.Duration { return 7 * time.Millisecond },
			}))
			start := time.Now()
			resp, err := postPayment(t, context.Background(), rt, url)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusCreated, resp.StatusCode)
			assert.Equal(t, 14*time.Millisecond, time.Since(start))
			assert.Len(t, base.sent(), 3)
		})
	})
	for _, deadline := range []bool{true, false} {
		t.Run(fmt.Sprintf("a Wait past the deadline ends the call at once (Deadline %v)", deadline), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := &rejectingFirst{rejections: 1, wait: 300 * time.Millisecond, deadline: deadline, then: answer(http.StatusCreated)}
				var g giveUps
				rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{OnGiveUp: g.hook}))
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := postPayment(t, ctx, rt, url)
				assert.Zero(t, time.Since(start))
				require.ErrorIs(t, err, transport.ErrRejectedLocally)
				assert.Equal(t, deadline, errors.Is(err, context.DeadlineExceeded))
				var retryErr *transport.RetryError
				require.ErrorAs(t, err, &retryErr)
				assert.Equal(t, 1, retryErr.Attempts)
				var rejected *transport.RejectedError
				require.ErrorAs(t, err, &rejected)
				assert.Equal(t, 300*time.Millisecond, rejected.Wait)
				assert.Len(t, base.sent(), 1)
				assert.Equal(t, []transport.GiveUpReason{transport.GiveUpDeadline}, g.list())
			})
		})
	}
	t.Run("it spends no budget", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &rejectingFirst{rejections: 1, wait: 10 * time.Millisecond, then: answer(http.StatusCreated)}
			failing := &scripted{resps: []func() *http.Response{answer(http.StatusInternalServerError), answer(http.StatusOK)}}
			var g giveUps
			rt := transport.Chain(rtFunc(func(req *http.Request) (*http.Response, error) {
				if req.URL.Path == "/failing" {
					return failing.RoundTrip(req)
				}
				return base.RoundTrip(req)
			}), transport.Retry(transport.RetryPolicy{
				// No token, ever: each retry that spends budget is refused.
				Budget:   transport.RetryBudget{Ratio: 0.001, MinPerSecond: -1, MaxBanked: 0.001},
				OnGiveUp: g.hook,
			}))
			for i := range 5 {
				resp, err := postPayment(t, context.Background(), rt, url)
				require.NoError(t, err, "payment %d", i+1)
				resp.Body.Close()
				assert.Equal(t, http.StatusCreated, resp.StatusCode)
			}
			assert.Len(t, base.sent(), 10, "every payment was retried")
			code, err := statusOf(t, rt, "http://api.test/failing")
			require.NoError(t, err)
			assert.Equal(t, http.StatusInternalServerError, code, "a 500's retry spends budget: refused")
			assert.Len(t, failing.at, 1)
			assert.Equal(t, []transport.GiveUpReason{transport.GiveUpBudget}, g.list())
		})
	})
	t.Run("it counts against MaxRetries", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			base := &rejectingFirst{rejections: 100, wait: 10 * time.Millisecond, then: answer(http.StatusCreated)}
			var g giveUps
			rt := transport.Chain(base, transport.Retry(transport.RetryPolicy{MaxRetries: 2, OnGiveUp: g.hook}))
			_, err := postPayment(t, context.Background(), rt, url)
			require.ErrorIs(t, err, transport.ErrRejectedLocally)
			var retryErr *transport.RetryError
			require.ErrorAs(t, err, &retryErr)
			assert.Equal(t, 3, retryErr.Attempts)
			assert.Len(t, base.sent(), 3)
			assert.Equal(t, []transport.GiveUpReason{transport.GiveUpMaxRetries}, g.list())
		})
	})
}

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
					assert.Equal(t, transport.RejectedError{Host: "a.test", Reason: "host cooling down for 1s", Wait: time.Second, Deadline: true}, *rejected)
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
	counted := rtFunc(func(req *http.Request) (*http.Response, error) {
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
			srv := rtFunc(func(req *http.Request) (*http.Response, error) {
				if transport.AttemptFromContext(req.Context()) == 1 {
					return answer(http.StatusServiceUnavailable)(), nil // at once
				}
				time.Sleep(20 * time.Millisecond) // work takes time
				return answer(http.StatusOK)(), nil
			})
			var rejections atomic.Int64
			counter := func(next http.RoundTripper) http.RoundTripper {
				return rtFunc(func(req *http.Request) (*http.Response, error) {
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
			srv := rtFunc(func(*http.Request) (*http.Response, error) {
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
