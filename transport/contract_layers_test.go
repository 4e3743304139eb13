package transport_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// The RoundTripper contract for each layer on its own paths, against real
// servers: the caller's request is left as it was and its body is closed
// exactly once, whether the layer sends the request, refuses it, or gives
// up on it.
var errNoToken = errors.New("no token today")

func TestLayersKeepTheRoundTripperContract(t *testing.T) {
	data := []byte("a streamed body, no GetBody, no length")
	var budgetReason transport.GiveUpReason
	for _, tc := range []struct {
		name string
		// setup returns the transport under test over base, after any calls
		// that put it in the state the case needs.
		setup   func(t *testing.T, base http.RoundTripper, url string) http.RoundTripper
		steps   []http.Handler
		method  string // PUT when empty
		timeout time.Duration
		wantErr error
		// check, when set, runs after the call.
		check func(t *testing.T)
	}{
		{
			name: "Breaker, closed circuit",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				return transport.Chain(base, transport.Breaker(transport.BreakerOptions{}))
			},
			steps: []http.Handler{htu.OK("ok")},
		},
		{
			name: "Breaker, open circuit refuses",
			setup: func(t *testing.T, base http.RoundTripper, url string) http.RoundTripper {
				rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{MinRequests: 1, CoolDown: time.Minute}))
				openWith(t, rt, url)
				return rt
			},
			steps:   []http.Handler{htu.Status(500)},
			wantErr: transport.ErrCircuitOpen,
		},
		{
			name: "RateLimit, admitted",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				return transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{Limiter: rate.NewLimiter(rate.Inf, 1)}))
			},
			steps: []http.Handler{htu.OK("ok")},
		},
		{
			name: "RateLimit, a cool-down past the deadline refuses",
			setup: func(t *testing.T, base http.RoundTripper, url string) http.RoundTripper {
				rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
				for range 10 { // ten 429s with Retry-After: 30, all the host's answers: a cool-down
					openWith(t, rt, url)
				}
				return rt
			},
			steps:   []http.Handler{htu.TooManyRequests(30)},
			timeout: 100 * time.Millisecond,
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "RateLimit, a limiter past the deadline refuses",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				l := rate.NewLimiter(rate.Every(time.Hour), 1)
				l.Allow() // the only token is spent
				return transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{Limiter: l}))
			},
			steps:   []http.Handler{htu.OK("ok")},
			timeout: 100 * time.Millisecond,
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "Retry, the budget is spent",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				return transport.Chain(base, transport.Retry(transport.RetryPolicy{
					BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
					Budget:   transport.RetryBudget{Ratio: 1e-9, MinPerSecond: 1e-9, MaxBanked: 1e-9},
					OnGiveUp: func(ev transport.GiveUpEvent) { budgetReason = ev.Reason },
				}))
			},
			steps: []http.Handler{htu.Status(503)},
			check: func(t *testing.T) { assert.Equal(t, transport.GiveUpBudget, budgetReason) },
		},
		{
			name: "Retry, the per-try timeout fires",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				return transport.Chain(base, transport.Retry(transport.RetryPolicy{
					MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
					PerTryTimeout: 50 * time.Millisecond,
				}))
			},
			steps:   []http.Handler{htu.Hang()},
			wantErr: transport.ErrPerTryTimeout,
		},
		{
			name: "Logging, enabled, with a retry",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				l, _, _ := jsonLogger(slog.LevelDebug)
				return transport.Chain(base, transport.Logging(transport.LogOptions{Logger: l, LogHeaders: true}),
					transport.Retry(fast(transport.RetryPolicy{})))
			},
			steps: []http.Handler{htu.Status(503), htu.OK("ok")},
		},
		{
			name: "Headers, static, dynamic and attempt fields",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				return transport.Chain(base, transport.Headers(transport.HeaderOptions{
					Static:        http.Header{"User-Agent": {"app/1"}},
					Dynamic:       func(*http.Request) (http.Header, error) { return http.Header{"Authorization": {"Bearer t"}}, nil },
					AttemptHeader: "Retry-Attempt",
				}))
			},
			steps: []http.Handler{htu.OK("ok")},
		},
		{
			name: "Headers, dynamic fields fail",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				return transport.Chain(base, transport.Headers(transport.HeaderOptions{
					Dynamic: func(*http.Request) (http.Header, error) { return nil, errNoToken },
				}))
			},
			steps:   []http.Handler{htu.OK("ok")},
			wantErr: errNoToken,
		},
		{
			name: "IdempotencyKeys, a POST gets a key",
			setup: func(t *testing.T, base http.RoundTripper, _ string) http.RoundTripper {
				return transport.Chain(base, transport.IdempotencyKeys())
			},
			steps:  []http.Handler{htu.OK("ok")},
			method: http.MethodPost,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := htu.NewServer(t, tc.steps...)
			rt := tc.setup(t, pooledBase(t), srv.URL)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			body := newTrackedBody(opaque(data))
			method := tc.method
			if method == "" {
				method = http.MethodPut
			}
			req := newRequest(t, ctx, method, srv.URL+"/path?q=1", body)
			req.Header.Set("X-Caller", "mine")
			before := snap(req)
			resp, err := rt.RoundTrip(req)
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.True(t, errors.Is(err, tc.wantErr), "error %v is not %v", err, tc.wantErr)
				assert.Nil(t, resp)
			} else {
				require.NoError(t, err)
				readAll(t, resp)
			}
			requireUnchanged(t, req, before)
			requireClosedOnce(t, body)
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

// openWith sends one bodiless GET through rt, to put its per-host state
// (a circuit, a cool-down) where the server's first answer leaves it.
func openWith(t *testing.T, rt http.RoundTripper, url string) {
	t.Helper()
	resp, err := rt.RoundTrip(newRequest(t, context.Background(), http.MethodGet, url, nil))
	require.NoError(t, err)
	readAll(t, resp)
}
