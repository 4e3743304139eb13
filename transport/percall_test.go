package transport_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// perCallBase is a base that answers each attempt with the next of its
// outcomes (the last repeats) and records the bodies it was sent.
type perCallBase struct {
	mu       sync.Mutex
	outcomes []func(*http.Request) (*http.Response, error)
	bodies   []string
}

func (s *perCallBase) RoundTrip(req *http.Request) (*http.Response, error) {
	var b []byte
	if req.Body != nil {
		b, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	s.mu.Lock()
	n := len(s.bodies)
	s.bodies = append(s.bodies, string(b))
	next := s.outcomes[min(n, len(s.outcomes)-1)]
	s.mu.Unlock()
	return next(req)
}

func (s *perCallBase) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func answerWith(code int) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		resp := answer(code)()
		resp.Request = req
		return resp, nil
	}
}

func failWith(err error) func(*http.Request) (*http.Response, error) {
	return func(*http.Request) (*http.Response, error) { return nil, err }
}

// callWith sends a call with ctx through Retry(p) over base and returns its
// status (0 for an error) and error.
func callWith(t *testing.T, ctx context.Context, p transport.RetryPolicy, base http.RoundTripper, method string) (int, error) {
	t.Helper()
	rt := transport.Chain(base, transport.Retry(fast(p)))
	body := newTrackedBody(strings.NewReader("payload"))
	req := newRequest(t, ctx, method, "http://api.test/items", body)
	before := snap(req)
	resp, err := rt.RoundTrip(req)
	requireUnchanged(t, req, before)
	requireClosedOnce(t, body)
	if err != nil {
		return 0, err
	}
	readAll(t, resp)
	return resp.StatusCode, nil
}

// WithMaxRetries bounds a call's retries in place of the policy's, above or
// below it; the last one set wins, and a call that may retry records its
// body to send it again, whatever the policy says.
func TestWithMaxRetries(t *testing.T) {
	bg := context.Background()
	for _, tc := range []struct {
		name     string
		policy   int
		ctx      context.Context
		attempts int
	}{
		{"0 under the default", 0, transport.WithMaxRetries(bg, 0), 1},
		{"5 over a policy of 1", 1, transport.WithMaxRetries(bg, 5), 6},
		{"2 where the policy sends once", -1, transport.WithMaxRetries(bg, 2), 3},
		{"the last one set wins", 0, transport.WithMaxRetries(transport.WithMaxRetries(bg, 5), 1), 2},
		{"kept under other settings", 0, transport.WithoutHedge(transport.WithMaxRetries(bg, 0)), 1},
		{"none set", 1, bg, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := &perCallBase{outcomes: []func(*http.Request) (*http.Response, error){answerWith(503)}}
			code, err := callWith(t, tc.ctx, transport.RetryPolicy{MaxRetries: tc.policy, Budget: transport.RetryBudget{Disabled: true}}, base, http.MethodPost)
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, code)
			assert.Equal(t, tc.attempts, base.attempts())
			for _, b := range base.bodies {
				assert.Equal(t, "payload", b, "every attempt sent the whole body")
			}
		})
	}
}

// A call's own MaxRetries never bypasses the host's retry budget: with the
// budget empty, a call that asks for 10 retries gets none, and the give-up
// says why.
func TestWithMaxRetriesSpendsTheBudget(t *testing.T) {
	var reasons []transport.GiveUpReason
	p := transport.RetryPolicy{
		Budget:   transport.RetryBudget{Ratio: 0.001, MinPerSecond: -1, MaxBanked: 0.001},
		OnGiveUp: func(e transport.GiveUpEvent) { reasons = append(reasons, e.Reason) },
	}
	base := &perCallBase{outcomes: []func(*http.Request) (*http.Response, error){answerWith(503)}}
	code, err := callWith(t, transport.WithMaxRetries(context.Background(), 10), p, base, http.MethodGet)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, 1, base.attempts())
	assert.Equal(t, []transport.GiveUpReason{transport.GiveUpBudget}, reasons)
}

// WithRepeatable makes a POST as retryable as a keyed one: after a 500, or
// an error after it may have been sent.
func TestWithRepeatable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(*http.Request) (*http.Response, error)
	}{
		{"500", answerWith(500)},
		{"502", answerWith(502)},
		{"a connection cut", failWith(io.ErrUnexpectedEOF)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := &perCallBase{outcomes: []func(*http.Request) (*http.Response, error){tc.first, answerWith(200)}}
			_, _ = callWith(t, context.Background(), transport.RetryPolicy{}, base, http.MethodPost)
			assert.Equal(t, 1, base.attempts(), "an unkeyed POST is sent once")

			base = &perCallBase{outcomes: []func(*http.Request) (*http.Response, error){tc.first, answerWith(200)}}
			code, err := callWith(t, transport.WithRepeatable(context.Background()), transport.RetryPolicy{}, base, http.MethodPost)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, []string{"payload", "payload"}, base.bodies)
		})
	}
}

// WithClassifier decides first; its Default leaves the decision to the
// policy's Classifier and the rules.
func TestWithClassifier(t *testing.T) {
	var policyAsked int
	p := transport.RetryPolicy{Classifier: func(a transport.Attempt) transport.Decision {
		policyAsked++
		return transport.Default
	}}
	stop503 := func(a transport.Attempt) transport.Decision {
		if a.Response != nil && a.Response.StatusCode == 503 {
			return transport.StopRetrying
		}
		return transport.Default
	}
	retry400 := func(a transport.Attempt) transport.Decision {
		if a.Response != nil && a.Response.StatusCode == 400 {
			return transport.RetryAttempt
		}
		return transport.Default
	}
	bg := context.Background()
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		first       int
		attempts    int
		policyAsked int
	}{
		{"StopRetrying a 503", transport.WithClassifier(bg, stop503), 503, 1, 0},
		{"RetryAttempt a 400", transport.WithClassifier(bg, retry400), 400, 2, 1},
		{"Default", transport.WithClassifier(bg, retry400), 503, 2, 2},
		{"nil removes it", transport.WithClassifier(transport.WithClassifier(bg, stop503), nil), 503, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policyAsked = 0
			base := &perCallBase{outcomes: []func(*http.Request) (*http.Response, error){answerWith(tc.first), answerWith(200)}}
			code, err := callWith(t, tc.ctx, p, base, http.MethodGet)
			require.NoError(t, err)
			assert.Equal(t, tc.attempts, base.attempts())
			assert.Equal(t, tc.policyAsked, policyAsked)
			if tc.attempts == 2 {
				assert.Equal(t, http.StatusOK, code)
			}
		})
	}
}

// answerAfter is an outcome that answers after d, or fails when the attempt's
// context ends first.
func answerAfter(d time.Duration) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		select {
		case <-time.After(d):
			return answerWith(200)(req)
		case <-req.Context().Done():
			return nil, context.Cause(req.Context())
		}
	}
}

// WithPerTryTimeout replaces the policy's per-try timeout for one call: a
// shorter one cuts a hung attempt that is then retried, a longer one or none
// lets a slow answer through. It works in a Chain and for a Retry used
// alone.
func TestWithPerTryTimeout(t *testing.T) {
	bg := context.Background()
	for _, tc := range []struct {
		name     string
		policy   time.Duration
		ctx      context.Context
		first    func(*http.Request) (*http.Response, error)
		attempts int
		took     time.Duration
	}{
		{"1s where the policy has none", 0, transport.WithPerTryTimeout(bg, time.Second), answerAfter(time.Hour), 2, time.Second},
		{"none where the policy has 1s", time.Second, transport.WithPerTryTimeout(bg, 0), answerAfter(3 * time.Second), 1, 3 * time.Second},
		{"5s where the policy has 1s", time.Second, transport.WithPerTryTimeout(bg, 5*time.Second), answerAfter(3 * time.Second), 1, 3 * time.Second},
		{"the policy's", time.Second, bg, answerAfter(time.Hour), 2, time.Second},
	} {
		for _, alone := range []bool{false, true} {
			name := tc.name
			if alone {
				name += ", Retry alone"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					base := &perCallBase{outcomes: []func(*http.Request) (*http.Response, error){tc.first, answerWith(200)}}
					p := transport.RetryPolicy{PerTryTimeout: tc.policy, BaseDelay: time.Nanosecond}
					rt := transport.Chain(base, transport.Retry(p))
					if alone {
						rt = transport.Retry(p)(base)
					}
					start := time.Now()
					resp, err := rt.RoundTrip(newRequest(t, tc.ctx, http.MethodGet, "http://api.test/", nil))
					require.NoError(t, err)
					readAll(t, resp)
					assert.Equal(t, http.StatusOK, resp.StatusCode)
					assert.Equal(t, tc.attempts, base.attempts())
					assert.Equal(t, tc.took, time.Since(start).Round(time.Millisecond))
				})
			})
		}
	}
}

// The With functions panic on a value that is always a mistake, where the
// call is made, never inside RoundTrip.
func TestPerCallPanics(t *testing.T) {
	assert.PanicsWithValue(t, "transport: WithMaxRetries: negative n", func() { transport.WithMaxRetries(context.Background(), -1) })
	assert.PanicsWithValue(t, "transport: WithPerTryTimeout: negative duration", func() {
		transport.WithPerTryTimeout(context.Background(), -time.Second)
	})
}

// A call that sets nothing pays nothing: no allocation beyond what it paid
// before; nor does one whose settings leave the attempt as it is.
func TestPerCallCostsNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	rt := transport.Chain(canned, transport.Retry(transport.RetryPolicy{}))
	for name, ctx := range map[string]context.Context{
		"nothing set": context.Background(),
		"MaxRetries, Repeatable, no hedge, a classifier": transport.WithClassifier(transport.WithoutHedge(transport.WithRepeatable(
			transport.WithMaxRetries(context.Background(), 1))), func(transport.Attempt) transport.Decision { return transport.Default }),
	} {
		req := newRequest(t, ctx, http.MethodGet, "http://api.test/items?id=1", nil)
		allocs := testing.AllocsPerRun(200, func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
		if allocs > 1 {
			t.Errorf("%s: %v allocations a call, want 1 (the canned response)", name, allocs)
		}
	}
}
