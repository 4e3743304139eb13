package transport_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// stacked is a chain stacked by hand, as the README shows, with Timeouts
// where NewClient puts them: outside Retry.
func stacked(t *testing.T, o transport.TimeoutOptions) *http.Client {
	t.Helper()
	c := &http.Client{Transport: transport.Chain(pooledBase(t),
		transport.Timeouts(o),
		transport.Retry(fast(transport.RetryPolicy{MaxDelay: time.Millisecond})),
	)}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// Timeouts gives a chain stacked by hand the timeouts NewClient has: a
// call whose response never begins fails with ErrResponseTimeout, retries
// included; a body that stops moving fails with ErrBodyStalled. The
// caller's request is untouched and its body closed once.
func TestTimeoutsGiveAStackedChainNewClientsTimeouts(t *testing.T) {
	t.Run("response", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Reset(), htu.Hang())
		body := newTrackedBody(strings.NewReader("payload"))
		req := newRequest(t, context.Background(), http.MethodPut, srv.URL, body)
		before := snap(req)
		start := time.Now()
		_, err := stacked(t, transport.TimeoutOptions{Response: 300 * time.Millisecond, BodyStall: -1}).Do(req)
		require.ErrorIs(t, err, transport.ErrResponseTimeout)
		assert.Less(t, time.Since(start), 5*time.Second)
		assert.Equal(t, 2, srv.Count(), "the retry is inside the bound")
		requireUnchanged(t, req, before)
		requireClosedOnce(t, body)
	})
	t.Run("stall", func(t *testing.T) {
		for name, response := range map[string]time.Duration{"with a response bound": time.Second, "alone": -1} {
			t.Run(name, func(t *testing.T) {
				srv := htu.NewServer(t, htu.StallBody(http.StatusOK, "first part "))
				resp, err := stacked(t, transport.TimeoutOptions{Response: response, BodyStall: 200 * time.Millisecond}).Get(srv.URL)
				require.NoError(t, err)
				got, err := io.ReadAll(resp.Body)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, "first part ", string(got))
				require.ErrorIs(t, err, transport.ErrBodyStalled)
			})
		}
	})
	t.Run("none", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Hang())
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := stacked(t, transport.TimeoutOptions{Response: -1, BodyStall: -1}).Do(newRequest(t, ctx, http.MethodGet, srv.URL, nil))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.False(t, errors.Is(err, transport.ErrResponseTimeout), "no bound of the library's: the caller's deadline ended it")
	})
}

// Each timeout's message says its cause once: no "no response within the
// client's timeout (300ms): transport: after 1 attempt: no response within
// the client's timeout", no "stalled for 200ms: response body stalled".
// The attempt count stays reachable with errors.As.
func TestTimeoutMessagesSayEachCauseOnce(t *testing.T) {
	t.Run("response", func(t *testing.T) {
		for name, start := range bothProtocols(t) {
			t.Run(name, func(t *testing.T) {
				srv, base := start(htu.Hang())
				c := transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: 300 * time.Millisecond})
				t.Cleanup(c.CloseIdleConnections)
				_, err := c.Get(srv.URL)
				require.ErrorIs(t, err, transport.ErrResponseTimeout)
				msg := err.Error()
				assert.Equal(t, 1, strings.Count(msg, "no response within"), msg)
				assert.Equal(t, 1, strings.Count(msg, "transport:"), msg)
				assert.Contains(t, msg, "(300ms)")
				var re *transport.RetryError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, 1, re.Attempts)
				assert.True(t, os.IsTimeout(err))
			})
		}
	})
	t.Run("stall", func(t *testing.T) {
		for name, start := range bothProtocols(t) {
			for mechanism, response := range map[string]time.Duration{"context": time.Second, "close": -1} {
				t.Run(name+", "+mechanism, func(t *testing.T) {
					srv, base := start(htu.StallBody(http.StatusOK, "first part "))
					c := transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: response, BodyStallTimeout: 200 * time.Millisecond})
					t.Cleanup(c.CloseIdleConnections)
					resp, err := c.Get(srv.URL)
					require.NoError(t, err)
					_, err = io.ReadAll(resp.Body)
					require.NoError(t, resp.Body.Close())
					require.ErrorIs(t, err, transport.ErrBodyStalled)
					assert.Equal(t, 1, strings.Count(err.Error(), "stalled"), err.Error())
					assert.Contains(t, err.Error(), "stalled for 200ms")
				})
			}
		}
	})
}

// A call that its context ended (the caller's deadline or cancel, or
// http.Client.Timeout, which net/http puts in the request's context) says
// so and claims no attempts: under http.Client.Timeout, net/http may
// flatten the error to its text, and errors.As could then not find the
// *RetryError that such a claim would promise. With the caller's own
// context the *RetryError is there, with the count.
func TestAnEndedContextClaimsNoAttempts(t *testing.T) {
	t.Run("http.Client.Timeout", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Hang())
		c, _ := newRetrying(t, fast(transport.RetryPolicy{}))
		c.Timeout = 200 * time.Millisecond
		_, err := c.Get(srv.URL)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "attempt")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, os.IsTimeout(err))
		// Whether errors.As finds the *RetryError depends on which of
		// net/http's two timers fired first: when it is the one that
		// cancels the request, net/http keeps only the error's text.
	})
	t.Run("the caller's deadline, after retries", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Reset(), htu.Reset(), htu.Hang())
		c, sent := newRetrying(t, fast(transport.RetryPolicy{}))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := c.Do(newRequest(t, ctx, http.MethodGet, srv.URL, nil))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, `Get "`+srv.URL+`": context deadline exceeded`, err.Error())
		var re *transport.RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 3, re.Attempts)
		assert.Equal(t, int32(3), sent.n.Load())
	})
	t.Run("exhausted on an error, the count is said", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Reset())
		c, _ := newRetrying(t, fast(transport.RetryPolicy{}))
		_, err := c.Get(srv.URL)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "transport: after 4 attempts: ")
	})
}

// docs/timeouts.md's way of telling the timeouts apart says which one
// ended each call: the caller's deadline, the client's response timeout,
// the per-try timeout, and http.Client.Timeout, though all four match
// context.DeadlineExceeded.
func TestTellingTimeoutsApart(t *testing.T) {
	srv := htu.NewServer(t, htu.Hang())
	base := pooledBase(t)
	retry := transport.Retry(fast(transport.RetryPolicy{MaxRetries: 1, PerTryTimeout: 100 * time.Millisecond}))
	for _, tc := range []struct {
		name   string
		client *http.Client
		ctx    time.Duration // the caller's deadline; 0 for none
		want   string
	}{
		{"the caller's deadline", &http.Client{Transport: transport.Chain(base, transport.Retry(transport.RetryPolicy{}))}, 150 * time.Millisecond, "yours"},
		{"Timeouts", &http.Client{Transport: transport.Chain(base, transport.Timeouts(transport.TimeoutOptions{Response: 150 * time.Millisecond}), transport.Retry(transport.RetryPolicy{}))}, 0, "the client's"},
		{"PerTryTimeout", &http.Client{Transport: transport.Chain(base, retry)}, 0, "each attempt"},
		{"http.Client.Timeout", &http.Client{Transport: transport.Chain(base, transport.Retry(transport.RetryPolicy{})), Timeout: 150 * time.Millisecond}, 0, "http.Client.Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
				defer cancel()
			}
			got := snippetWhoseTimeout(ctx, tc.client, newRequest(t, context.Background(), http.MethodGet, srv.URL, nil))
			assert.True(t, strings.HasPrefix(got, tc.want), got)
		})
	}
}
