package transport_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// net/http's ResponseHeaderTimeout is a timeout of the transport, not of
// the caller: the attempt is retried.
func TestRetryAfterResponseHeaderTimeout(t *testing.T) {
	srv := htu.NewServer(t, htu.Hang(), htu.OK("fine"))
	base := pooledBase(t)
	base.ResponseHeaderTimeout = 50 * time.Millisecond
	client, sent := newRetryingOver(base, fast(transport.RetryPolicy{}))
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "fine", readAll(t, resp))
	assert.Equal(t, int32(2), sent.n.Load())
}

// A dial that times out (net's "i/o timeout") is retried.
func TestRetryAfterDialTimeout(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("fine"))
	base := pooledBase(t)
	var dials atomic.Int32
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{}
		if dials.Add(1) == 1 {
			d.Deadline = time.Now().Add(-time.Second) // times out at once, as a slow network would
		}
		return d.DialContext(ctx, network, addr)
	}
	client, _ := newRetryingOver(base, fast(transport.RetryPolicy{}))
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "fine", readAll(t, resp))
	assert.Equal(t, int32(2), dials.Load())
}

// The real errors of net and net/http: their timeouts are transient even
// though errors.Is matches them with context.DeadlineExceeded; a context's
// own error, however wrapped, is not.
func TestIsTransientErrorTellsTimeoutsFromTheCaller(t *testing.T) {
	var d net.Dialer
	d.Deadline = time.Now().Add(-time.Second)
	_, dialErr := d.Dial("tcp", "127.0.0.1:1")
	require.ErrorIs(t, dialErr, context.DeadlineExceeded, "net's timeout claims to be a deadline")

	srv := htu.NewServer(t, htu.Hang())
	base := pooledBase(t)
	base.ResponseHeaderTimeout = 10 * time.Millisecond
	_, headerErr := base.RoundTrip(newRequest(t, context.Background(), http.MethodGet, srv.URL, nil))
	require.Error(t, headerErr)

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"dial timeout", dialErr, true},
		{"response header timeout", headerErr, true},
		{"deadline", context.DeadlineExceeded, false},
		{"deadline in url.Error", &url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}, false},
		{"canceled, joined", fmt.Errorf("a: %w, b: %w", net.ErrClosed, context.Canceled), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, transport.IsTransientError(tc.err), "%v", tc.err)
		})
	}
}
