package transport_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// newH2Retrying returns a client speaking HTTP/2 to srv through Retry(p).
func newH2Retrying(t *testing.T, srv *htu.Server, p transport.RetryPolicy) (*http.Client, *counting) {
	t.Helper()
	base := srv.Client().Transport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	return newRetryingOver(base, p)
}

func TestRetryOverHTTP2(t *testing.T) {
	t.Run("statuses, one connection, body replayed", func(t *testing.T) {
		srv := htu.NewTLSServer(t, htu.ReadThen(10, htu.Status(503)), htu.Status(502), htu.OK("stored"))
		client, _ := newH2Retrying(t, srv, fast(transport.RetryPolicy{}))
		data := bytes.Repeat([]byte("h2"), 100_000)
		body := newTrackedBody(opaque(data))
		req := newRequest(t, context.Background(), http.MethodPut, srv.URL, body)
		before := snap(req)
		resp, err := client.Do(req)
		require.NoError(t, err)
		assert.Equal(t, "stored", readAll(t, resp))
		assert.Equal(t, 2, resp.ProtoMajor)
		reqs := srv.Requests()
		require.Len(t, reqs, 3)
		assert.True(t, bytes.Equal(data, reqs[2].Body))
		assert.Equal(t, 1, srv.Conns())
		requireUnchanged(t, req, before)
		requireClosedOnce(t, body)
	})
	t.Run("a reset stream is retried", func(t *testing.T) {
		srv := htu.NewTLSServer(t, htu.Reset(), htu.OK("fine"))
		client, attempts := newH2Retrying(t, srv, fast(transport.RetryPolicy{}))
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "fine", readAll(t, resp))
		assert.Equal(t, int32(2), attempts.n.Load())
	})
}
