package transport_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// The attempt count is reachable from a response, and agrees with the
// Trace's: a server that answers 503 to every attempt gives a 503 and an
// attempt count of 4. The caller's request is untouched, its body closed
// once, and resp.Request still says what was sent.
func TestAttemptsOfAResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		steps  []http.Handler
		status int
		want   int
	}{
		{"answered at once", []http.Handler{htu.OK("ok")}, http.StatusOK, 1},
		{"answered on the third", []http.Handler{htu.Status(http.StatusBadGateway), htu.Reset(), htu.OK("ok")}, http.StatusOK, 3},
		{"503 to every attempt", []http.Handler{htu.Status(http.StatusServiceUnavailable)}, http.StatusServiceUnavailable, 4},
		{"not retried", []http.Handler{htu.Status(http.StatusNotFound)}, http.StatusNotFound, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := htu.NewServer(t, tc.steps...)
			c, sent := newRetrying(t, fast(transport.RetryPolicy{}))
			var ended transport.CallEndEvent
			ctx := transport.WithTrace(context.Background(), &transport.Trace{CallEnd: func(e transport.CallEndEvent) { ended = e }})
			body := newTrackedBody(strings.NewReader("payload"))
			req := newRequest(t, ctx, http.MethodPut, srv.URL+"/thing?q=1", body)
			before := snap(req)
			resp, err := c.Do(req)
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.want, transport.Attempts(resp))
			assert.Equal(t, ended.Attempts, transport.Attempts(resp), "as the Trace says")
			assert.Equal(t, int32(tc.want), sent.n.Load())
			require.NotNil(t, resp.Request)
			assert.Equal(t, http.MethodPut, resp.Request.Method)
			assert.Equal(t, srv.URL+"/thing?q=1", resp.Request.URL.String())
			requireUnchanged(t, req, before)
			requireClosedOnce(t, body)
		})
	}
}

// Through NewClient's whole chain, and for a response no Retry handled.
func TestAttemptsThroughTheChain(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(http.StatusServiceUnavailable))
	c := transport.NewClientWith(transport.ClientOptions{Base: pooledBase(t), Retry: fast(transport.RetryPolicy{MaxRetries: 2})})
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, 3, transport.Attempts(resp))

	resp, err = (&http.Client{Transport: pooledBase(t)}).Get(srv.URL)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, 1, transport.Attempts(resp), "no Retry: one attempt")
	assert.Equal(t, 0, transport.Attempts(nil))
}

// A hedged call counts every attempt it sent, as its CallEnd event does:
// the first (still in flight when the hedge wins) and the hedge's two (a
// 503, retried below Hedge, then a 200).
func TestAttemptsOfAHedgedCall(t *testing.T) {
	srv := htu.NewServer(t, htu.Delay(2*time.Second, htu.OK("slow")), htu.Status(http.StatusServiceUnavailable), htu.OK("fast"))
	c := transport.NewClientWith(transport.ClientOptions{Base: pooledBase(t),
		Hedge: transport.HedgeOptions{Delay: 50 * time.Millisecond}, Retry: fast(transport.RetryPolicy{})})
	t.Cleanup(c.CloseIdleConnections)
	var ended transport.CallEndEvent
	ctx := transport.WithTrace(context.Background(), &transport.Trace{CallEnd: func(e transport.CallEndEvent) { ended = e }})
	resp, err := c.Do(newRequest(t, ctx, http.MethodGet, srv.URL, nil))
	require.NoError(t, err)
	assert.Equal(t, "fast", readAll(t, resp))
	assert.Equal(t, 3, transport.Attempts(resp))
	assert.Equal(t, ended.Attempts, transport.Attempts(resp))
}
