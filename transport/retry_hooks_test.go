package transport_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// Check can end a call with an error of the caller's: the response is
// drained and closed (its connection reused), the call's error wraps it.
func TestCheckStopsWithAnError(t *testing.T) {
	errQuota := errors.New("quota exhausted for this month")
	srv := htu.NewServer(t, htu.Respond(http.StatusOK, http.Header{"X-Quota": {"0"}}, `{"error":"quota"}`), htu.OK("fine"))
	client, sent := newRetrying(t, fast(transport.RetryPolicy{
		Check: func(a transport.Attempt) (transport.Decision, error) {
			if a.Response != nil && a.Response.Header.Get("X-Quota") == "0" {
				return transport.Default, errQuota
			}
			return transport.Default, nil
		},
	}))
	_, err := client.Get(srv.URL)
	require.ErrorIs(t, err, errQuota)
	var rerr *transport.RetryError
	require.ErrorAs(t, err, &rerr)
	assert.Equal(t, 1, rerr.Attempts)
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "fine", readAll(t, resp))
	assert.Equal(t, int32(2), sent.n.Load())
	assert.Equal(t, 1, srv.Conns(), "the checked response was drained: its connection was reused")
}

// Check's Decision counts as a Classifier's, and comes first.
func TestCheckDecides(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(http.StatusBadRequest), htu.OK("fine"))
	client, sent := newRetrying(t, fast(transport.RetryPolicy{
		Check: func(a transport.Attempt) (transport.Decision, error) {
			if a.Response != nil && a.Response.StatusCode == http.StatusBadRequest {
				return transport.RetryAttempt, nil
			}
			return transport.Default, nil
		},
		Classifier: func(transport.Attempt) transport.Decision { return transport.StopRetrying },
	}))
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "fine", readAll(t, resp))
	assert.Equal(t, int32(2), sent.n.Load())
}

// A Backoff of the caller's replaces the full jitter, capped at MaxDelay;
// Retry-After still wins.
func TestCustomBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{resps: []func() *http.Response{answer(503), answer(503), answer(503, "Retry-After", "7"), answer(200)}}
		_, took, err := run(t, context.Background(), transport.RetryPolicy{
			MaxDelay: 3 * time.Second,
			Backoff:  func(a transport.Attempt) time.Duration { return time.Duration(a.Number) * 2 * time.Second },
		}, s)
		require.NoError(t, err)
		require.Len(t, s.at, 4)
		assert.Equal(t, 2*time.Second, s.at[1].Sub(s.at[0]), "2s for attempt 1")
		assert.Equal(t, 3*time.Second, s.at[2].Sub(s.at[1]), "4s, capped at MaxDelay")
		assert.Equal(t, 7*time.Second, s.at[3].Sub(s.at[2]), "Retry-After wins")
		assert.Equal(t, 12*time.Second, took)
	})
}

// A middleware inside Retry sees every attempt, each a clone of its own: the
// place to re-sign a request (go-retryablehttp's PrepareRetry).
func TestMiddlewareInsideRetrySeesEachAttempt(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(503), htu.OK("fine"))
	var signed atomic.Int32
	sign := func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			r := req.Clone(req.Context())
			r.Header.Set("X-Signature", "attempt-"+strings.Repeat("I", transport.AttemptFromContext(req.Context())))
			signed.Add(1)
			return next.RoundTrip(r)
		})
	}
	client := &http.Client{Transport: transport.Chain(pooledBase(t), transport.Retry(fast(transport.RetryPolicy{})), sign)}
	req := newRequest(t, context.Background(), http.MethodGet, srv.URL, nil)
	before := snap(req)
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "attempt-I", reqs[0].Header.Get("X-Signature"))
	assert.Equal(t, "attempt-II", reqs[1].Header.Get("X-Signature"))
	requireUnchanged(t, req, before)
}
