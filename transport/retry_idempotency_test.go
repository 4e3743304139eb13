package transport_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

func TestRetryOnlyIdempotentMethods(t *testing.T) {
	for _, tc := range []struct {
		method string
		header string
		retry  bool
	}{
		{http.MethodGet, "", true},
		{http.MethodHead, "", true},
		{http.MethodOptions, "", true},
		{http.MethodTrace, "", true},
		{http.MethodPut, "", true},
		{http.MethodDelete, "", true},
		{http.MethodPost, "", false},
		{http.MethodPatch, "", false},
		{http.MethodPost, "Idempotency-Key", true},
		{http.MethodPatch, "X-Idempotency-Key", true},
	} {
		t.Run(tc.method+" "+tc.header, func(t *testing.T) {
			srv := htu.NewServer(t, htu.Status(http.StatusServiceUnavailable), htu.OK(""))
			client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
			req := newRequest(t, context.Background(), tc.method, srv.URL, strings.NewReader("payload"))
			if tc.header != "" {
				req.Header.Set(tc.header, "key-1")
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			readAll(t, resp)
			if !tc.retry {
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
				assert.Equal(t, 1, srv.Count())
				return
			}
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			if tc.header != "" {
				assert.Equal(t, "key-1", reqs[0].Header.Get(tc.header))
				assert.Equal(t, "key-1", reqs[1].Header.Get(tc.header), "same key on every attempt")
			}
			if tc.method != http.MethodHead {
				assert.Equal(t, "payload", string(reqs[1].Body))
			}
		})
	}
}

func TestRetryConflictOnKeyedRequest(t *testing.T) {
	t.Run("keyed POST: the original is in progress", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(http.StatusConflict), htu.Status(http.StatusConflict), htu.OK("done"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
		req := newRequest(t, context.Background(), http.MethodPost, srv.URL, strings.NewReader("pay 10"))
		req.Header.Set("Idempotency-Key", "k")
		resp, err := client.Do(req)
		require.NoError(t, err)
		assert.Equal(t, "done", readAll(t, resp))
		assert.Equal(t, 3, srv.Count())
	})
	t.Run("unkeyed PUT: a real conflict", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(http.StatusConflict), htu.OK("done"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
		req := newRequest(t, context.Background(), http.MethodPut, srv.URL, strings.NewReader("v2"))
		resp, err := client.Do(req)
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, http.StatusConflict, resp.StatusCode)
		assert.Equal(t, 1, srv.Count())
	})
}

// refuseFirstDials returns a pooled transport whose first n dials fail as if
// the port were closed.
func refuseFirstDials(t *testing.T, n int32) *http.Transport {
	t.Helper()
	base := cleanhttp.DefaultPooledTransport()
	t.Cleanup(base.CloseIdleConnections)
	dial := base.DialContext
	var dials atomic.Int32
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) <= n {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return dial(ctx, network, addr)
	}
	return base
}

func TestRetryRequestThatNeverLeft(t *testing.T) {
	t.Run("POST whose dial was refused is retried, body intact", func(t *testing.T) {
		srv := htu.NewServer(t, htu.OK("charged once"))
		var notSent []bool
		client, attempts := newRetryingOver(refuseFirstDials(t, 2), fast(transport.RetryPolicy{
			OnRetry: func(e transport.RetryEvent) { notSent = append(notSent, e.Attempt.NotSent) },
		}))
		body := newTrackedBody(strings.NewReader(`{"amount":10}`))
		req := newRequest(t, context.Background(), http.MethodPost, srv.URL, body)
		before := snap(req)
		resp, err := client.Do(req)
		require.NoError(t, err)
		assert.Equal(t, "charged once", readAll(t, resp))
		assert.Equal(t, int32(3), attempts.n.Load())
		assert.Equal(t, []bool{true, true}, notSent)
		reqs := srv.Requests()
		require.Len(t, reqs, 1, "the server saw the POST exactly once")
		assert.Equal(t, `{"amount":10}`, string(reqs[0].Body))
		requireUnchanged(t, req, before)
		requireClosedOnce(t, body)
	})
	t.Run("a long stream of known length, never touched, is sent whole", func(t *testing.T) {
		srv := htu.NewServer(t, htu.OK("stored once"))
		client, attempts := newRetryingOver(refuseFirstDials(t, 1), fast(transport.RetryPolicy{BodyReplayLimit: 1024}))
		data := strings.Repeat("0123456789", 10_000) // 100 kB: past every limit
		body := newTrackedBody(opaque([]byte(data)))
		req := newRequest(t, context.Background(), http.MethodPost, srv.URL, body)
		req.ContentLength = int64(len(data))
		resp, err := client.Do(req)
		require.NoError(t, err)
		assert.Equal(t, "stored once", readAll(t, resp))
		assert.Equal(t, int32(2), attempts.n.Load())
		reqs := srv.Requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, data, string(reqs[0].Body))
		requireClosedOnce(t, body)
	})
	t.Run("POST that reached the server is not retried", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Reset(), htu.OK("charged twice"))
		client, attempts := newRetrying(t, fast(transport.RetryPolicy{}))
		_, err := client.Post(srv.URL, "application/json", strings.NewReader(`{"amount":10}`))
		// Reset while the body is written: the read or the write fails first.
		var opErr *net.OpError
		require.ErrorAs(t, err, &opErr)
		assert.Equal(t, int32(1), attempts.n.Load())
		assert.Equal(t, 1, srv.Count())
	})
	t.Run("a RoundTripper that ignores httptrace proves nothing", func(t *testing.T) {
		var calls int
		base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			calls++
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		})
		rt := transport.Chain(base, transport.Retry(fast(transport.RetryPolicy{})))
		req := newRequest(t, context.Background(), http.MethodPost, "http://example.invalid/", nil)
		_, err := rt.RoundTrip(req)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.Equal(t, 1, calls)
	})
}
