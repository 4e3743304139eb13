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

	"github.com/rtchain/rtchain/bodyreplay"
	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// The retry contract for responses, method by method, against a real
// server: what is retried for an idempotent method, a keyed request and a
// plain POST, and what the server's x-should-retry says over the status.
func TestRetryResponsesByMethod(t *testing.T) {
	withHeader := func(code int, k, v string) http.Handler {
		return htu.Respond(code, http.Header{k: {v}}, "")
	}
	for _, tc := range []struct {
		name   string
		method string
		key    string // header that carries a key, if any
		first  http.Handler
		retry  bool
	}{
		{"GET 503", http.MethodGet, "", htu.Status(503), true},
		{"HEAD 500", http.MethodHead, "", htu.Status(500), true},
		{"OPTIONS 502", http.MethodOptions, "", htu.Status(502), true},
		{"TRACE 504", http.MethodTrace, "", htu.Status(504), true},
		{"PUT 500", http.MethodPut, "", htu.Status(500), true},
		{"DELETE 408", http.MethodDelete, "", htu.Status(408), true},
		{"GET 501", http.MethodGet, "", htu.Status(501), false},
		{"GET 505", http.MethodGet, "", htu.Status(505), false},
		{"GET 400", http.MethodGet, "", htu.Status(400), false},
		// Refusals: the server did not act, whatever the method.
		{"POST 429 bare", http.MethodPost, "", htu.Status(429), true},
		{"POST 429 Retry-After", http.MethodPost, "", htu.RetryAfter(429, "0"), true},
		{"POST 429 retry-after-ms", http.MethodPost, "", withHeader(429, "Retry-After-Ms", "5"), true},
		{"POST 503", http.MethodPost, "", htu.Status(503), true},
		{"PATCH 503", http.MethodPatch, "", htu.Status(503), true},
		{"POST 529 overloaded", http.MethodPost, "", htu.Status(transport.StatusOverloaded), true},
		// Where effects hide: an unkeyed POST answered 500, 502, 504, 408.
		{"POST 500", http.MethodPost, "", htu.Status(500), false},
		{"POST 502", http.MethodPost, "", htu.Status(502), false},
		{"POST 504", http.MethodPost, "", htu.Status(504), false},
		{"PATCH 408", http.MethodPatch, "", htu.Status(408), false},
		{"keyed POST 500", http.MethodPost, "Idempotency-Key", htu.Status(500), true},
		{"keyed PATCH 502", http.MethodPatch, "X-Idempotency-Key", htu.Status(502), true},
		// The server's word over the status.
		{"POST 500 x-should-retry: true", http.MethodPost, "", withHeader(500, "X-Should-Retry", "true"), true},
		{"POST 409 x-should-retry: true", http.MethodPost, "", withHeader(409, "X-Should-Retry", "true"), true},
		{"POST 429 x-should-retry: false", http.MethodPost, "", withHeader(429, "X-Should-Retry", "false"), false},
		{"GET 503 x-should-retry: false", http.MethodGet, "", withHeader(503, "X-Should-Retry", "false"), false},
		{"POST 500 x-should-retry: maybe", http.MethodPost, "", withHeader(500, "X-Should-Retry", "maybe"), false},
		// A success says the effect happened: a contradictory header never
		// sends it again.
		{"POST 201 x-should-retry: true", http.MethodPost, "", withHeader(201, "X-Should-Retry", "true"), false},
		{"GET 204 x-should-retry: true", http.MethodGet, "", withHeader(204, "X-Should-Retry", "true"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := htu.NewServer(t, tc.first, htu.OK("done"))
			client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
			body := newTrackedBody(strings.NewReader("payload"))
			req := newRequest(t, context.Background(), tc.method, srv.URL, body)
			if tc.key != "" {
				req.Header.Set(tc.key, "key-1")
			}
			before := snap(req)
			resp, err := client.Do(req)
			require.NoError(t, err)
			readAll(t, resp)
			requireUnchanged(t, req, before)
			requireClosedOnce(t, body)
			if !tc.retry {
				assert.NotEqual(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, 1, srv.Count(), "sent once")
				return
			}
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			if tc.key != "" {
				assert.Equal(t, "key-1", reqs[1].Header.Get(tc.key), "same key on every attempt")
			}
			if tc.method != http.MethodHead {
				assert.Equal(t, "payload", string(reqs[1].Body), "the whole body again")
			}
		})
	}
}

// A refused POST whose body is larger than the old 4 KiB record, streamed
// from a plain reader, is sent again whole.
func TestRefusedPostResendsItsWholeBody(t *testing.T) {
	data := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB
	srv := htu.NewServer(t, htu.RetryAfter(429, "0"), htu.OK("done"))
	client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
	body := newTrackedBody(opaque([]byte(data)))
	req := newRequest(t, context.Background(), http.MethodPost, srv.URL, body)
	resp, err := client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, "done", readAll(t, resp))
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, data, string(reqs[0].Body))
	assert.Equal(t, data, string(reqs[1].Body))
	requireClosedOnce(t, body)
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
		client, attempts := newRetryingOver(refuseFirstDials(t, 1), fast(transport.RetryPolicy{Body: bodyreplay.Options{Limit: 1024}}))
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
