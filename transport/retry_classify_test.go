package transport_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

func TestRetryStatuses(t *testing.T) {
	for _, tc := range []struct {
		code  int
		retry bool
	}{
		{http.StatusRequestTimeout, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusGatewayTimeout, true},
		{http.StatusNotImplemented, false},
		{http.StatusHTTPVersionNotSupported, false},
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusNotFound, false},
		{http.StatusConflict, false}, // only with an Idempotency-Key
		{http.StatusUnprocessableEntity, false},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			srv := htu.NewServer(t, htu.Status(tc.code), htu.OK("fine"))
			client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
			resp, err := client.Get(srv.URL)
			require.NoError(t, err)
			body := readAll(t, resp)
			if tc.retry {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "fine", body)
				assert.Equal(t, 2, srv.Count())
			} else {
				assert.Equal(t, tc.code, resp.StatusCode)
				assert.Equal(t, 1, srv.Count())
			}
		})
	}
}

func TestRetryTransientErrors(t *testing.T) {
	for name, step := range map[string]http.Handler{
		"reset":           htu.Reset(),
		"EOF":             htu.CloseConn(),
		"per-try timeout": htu.Hang(),
	} {
		t.Run(name, func(t *testing.T) {
			srv := htu.NewServer(t, step, htu.OK("fine"))
			client, _ := newRetrying(t, fast(transport.RetryPolicy{PerTryTimeout: 200 * time.Millisecond}))
			resp, err := client.Get(srv.URL)
			require.NoError(t, err)
			assert.Equal(t, "fine", readAll(t, resp))
			assert.Equal(t, 2, srv.Count())
		})
	}
	t.Run("refused", func(t *testing.T) {
		client, attempts := newRetrying(t, fast(transport.RetryPolicy{MaxRetries: 2}))
		_, err := client.Get(closedURL(t))
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		var rerr *transport.RetryError
		require.ErrorAs(t, err, &rerr)
		assert.Equal(t, 3, rerr.Attempts)
		assert.Equal(t, int32(3), attempts.n.Load())
	})
}

func TestRetryNeverRetries(t *testing.T) {
	t.Run("TLS certificate not trusted", func(t *testing.T) {
		srv := htu.NewTLSServer(t, htu.OK("fine"))
		client, attempts := newRetrying(t, fast(transport.RetryPolicy{}))
		_, err := client.Get(srv.URL)
		var certErr *tls.CertificateVerificationError
		require.ErrorAs(t, err, &certErr)
		assert.Equal(t, int32(1), attempts.n.Load())
	})
	t.Run("unsupported scheme", func(t *testing.T) {
		client, attempts := newRetrying(t, fast(transport.RetryPolicy{}))
		_, err := client.Get("ftp://127.0.0.1/file")
		require.Error(t, err)
		assert.Equal(t, int32(1), attempts.n.Load())
	})
	t.Run("caller's body fails", func(t *testing.T) {
		srv := htu.NewServer(t, htu.OK("fine"))
		client, attempts := newRetrying(t, fast(transport.RetryPolicy{}))
		// Looks transient, but it is the caller's reader failing, not the network.
		boom := fmt.Errorf("upload source: %w", io.ErrUnexpectedEOF)
		body := newTrackedBody(&failingReader{after: 10, err: boom})
		req := newRequest(t, context.Background(), http.MethodPut, srv.URL, body)
		_, err := client.Do(req)
		require.ErrorIs(t, err, boom)
		assert.Equal(t, int32(1), attempts.n.Load())
		requireClosedOnce(t, body)
	})
	t.Run("caller's context ends", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			htu.Hang().ServeHTTP(w, r)
		}))
		client, attempts := newRetrying(t, fast(transport.RetryPolicy{}))
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		_, err := client.Do(newRequest(t, ctx, http.MethodGet, srv.URL, nil))
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, int32(1), attempts.n.Load())
	})
}

// failingReader yields after bytes of zeros, then err.
type failingReader struct {
	after int
	err   error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.after == 0 {
		return 0, r.err
	}
	n := min(len(p), r.after)
	clear(p[:n])
	r.after -= n
	return n, nil
}

func TestRetryClassifierOverrides(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(http.StatusNotFound), htu.Status(http.StatusServiceUnavailable), htu.OK("fine"))
	var seen []int
	client, _ := newRetrying(t, fast(transport.RetryPolicy{
		Classifier: func(a transport.Attempt) transport.Decision {
			seen = append(seen, a.Number)
			switch a.Response.StatusCode {
			case http.StatusNotFound:
				return transport.RetryAttempt // eventual consistency: retry 404s
			case http.StatusServiceUnavailable:
				return transport.StopRetrying
			}
			return transport.Default
		},
	}))
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, []int{1, 2}, seen)
}

// With GetBody set, a fresh copy is at hand, but a failure of the caller's
// own reader is still not the network's: it is not retried.
func TestRetryNeverRetriesAFailingGetBodyReader(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("fine"))
	client, attempts := newRetrying(t, fast(transport.RetryPolicy{}))
	boom := fmt.Errorf("upload source: %w", io.ErrUnexpectedEOF)
	req := newRequest(t, context.Background(), http.MethodPut, srv.URL, &failingReader{after: 10, err: boom})
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("copy")), nil }
	req.ContentLength = 100
	_, err := client.Do(req)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, int32(1), attempts.n.Load())
}
