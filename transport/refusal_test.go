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

	"github.com/rtchain/rtchain/transport"
)

// Refusals (503, 529, a local rejection) are the host declining work, not
// failing at it: the breaker, Retry and RateLimit each treat them so.

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
			base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
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
			for range transport.BreakerMinRequests {
				_, err := statusOf(t, rt, url)
				require.NoError(t, err)
			}
			_, err := statusOf(t, rt, url)
			require.ErrorIs(t, err, transport.ErrCircuitOpen)
			assert.Zero(t, time.Since(start))
			assert.Equal(t, transport.BreakerMinRequests, base.count())
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
			rt := transport.Chain(transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
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
