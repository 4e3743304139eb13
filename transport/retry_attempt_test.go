package transport_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

func TestPerTryTimeout(t *testing.T) {
	t.Run("a hung attempt is cut and retried", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Hang(), htu.Hang(), htu.OK("fine"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{PerTryTimeout: 100 * time.Millisecond}))
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "fine", readAll(t, resp))
		assert.Equal(t, 3, srv.Count())
	})
	t.Run("exhausted: the error says per-try timeout", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Hang())
		client, _ := newRetrying(t, fast(transport.RetryPolicy{MaxRetries: 1, PerTryTimeout: 50 * time.Millisecond}))
		_, err := client.Get(srv.URL)
		require.ErrorIs(t, err, transport.ErrPerTryTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, os.IsTimeout(err), "url.Error.Timeout must see it: %v", err)
		assert.Equal(t, 2, srv.Count())
	})
	t.Run("the returned body outlives the per-try timeout", func(t *testing.T) {
		const body = "0123456789"
		// Headers at once, then a byte every 40ms: 400ms of body against a
		// 100ms per-try timeout.
		srv := htu.NewServer(t, htu.Drip(http.StatusOK, body, 40*time.Millisecond))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{PerTryTimeout: 100 * time.Millisecond}))
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, body, readAll(t, resp))
		assert.Equal(t, 1, srv.Count())
	})
}

func TestRetryReusesTheConnection(t *testing.T) {
	srv := htu.NewServer(t,
		htu.Respond(503, nil, strings.Repeat("e", 1000)),
		htu.Status(503), htu.Status(500), htu.OK("fine"))
	client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "fine", readAll(t, resp))
	assert.Equal(t, 4, srv.Count())
	assert.Equal(t, 1, srv.Conns(), "failed bodies must be drained so the connection is reused")
}

func TestRetryDrainIsBounded(t *testing.T) {
	t.Run("in time: an endless error body", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Endless(503, "x", 10*time.Millisecond), htu.OK("fine"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{DrainTimeout: 50 * time.Millisecond}))
		start := time.Now()
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "fine", readAll(t, resp))
		// 4 KiB at a byte per 10ms would take 40s without the time bound.
		assert.Less(t, time.Since(start), 10*time.Second)
	})
	t.Run("in bytes: a huge error body", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Respond(503, nil, strings.Repeat("e", 64<<20)), htu.OK("fine"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{DrainLimit: 1024}))
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "fine", readAll(t, resp))
		assert.Equal(t, 2, srv.Conns(), "a body past the drain limit costs its connection")
	})
}

func TestRetryExhausted(t *testing.T) {
	t.Run("on a status: the last response, untouched", func(t *testing.T) {
		srv := htu.NewServer(t,
			htu.Respond(503, nil, "first"), htu.Respond(503, nil, "second"),
			htu.Respond(503, http.Header{"X-Try": {"last"}}, "last"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{MaxRetries: 2}))
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "last", resp.Header.Get("X-Try"))
		assert.Equal(t, "last", readAll(t, resp))
		assert.Equal(t, 3, srv.Count())
	})
	t.Run("on an error: a RetryError that reaches the cause", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Reset())
		client, _ := newRetrying(t, fast(transport.RetryPolicy{MaxRetries: 2}))
		resp, err := client.Get(srv.URL)
		require.Error(t, err)
		assert.Nil(t, resp)
		var rerr *transport.RetryError
		require.ErrorAs(t, err, &rerr)
		assert.Equal(t, 3, rerr.Attempts)
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		assert.Contains(t, err.Error(), "after 3 attempts")
		assert.Equal(t, 3, srv.Count())
	})
	t.Run("MaxRetries negative: one attempt", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(503), htu.OK("fine"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{MaxRetries: -1}))
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, 503, resp.StatusCode)
		assert.Equal(t, 1, srv.Count())
	})
}

func TestRetryNeverReturnsResponseAndError(t *testing.T) {
	closed := make(chan struct{})
	base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: closeSignal(closed)}, errors.New("broken next")
	})
	rt := transport.Chain(base, transport.Retry(fast(transport.RetryPolicy{})))
	resp, err := rt.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "http://api.test/", nil))
	assert.Nil(t, resp)
	require.ErrorContains(t, err, "broken next")
	<-closed
}

type signalBody struct{ closed chan struct{} }

func closeSignal(c chan struct{}) *signalBody  { return &signalBody{c} }
func (b *signalBody) Read([]byte) (int, error) { return 0, errors.New("unread") }
func (b *signalBody) Close() error             { close(b.closed); return nil }
