package transport_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// tag is a middleware that appends its name on the way in and out.
func tag(name string, trail *[]string) transport.Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			*trail = append(*trail, ">"+name)
			resp, err := next.RoundTrip(req)
			*trail = append(*trail, "<"+name)
			return resp, err
		})
	}
}

func TestChainFirstMiddlewareIsOutermost(t *testing.T) {
	var trail []string
	base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
		trail = append(trail, "base")
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	rt := transport.Chain(base, tag("a", &trail), tag("b", &trail))
	req, err := http.NewRequest(http.MethodGet, "http://api.test/", nil)
	require.NoError(t, err)
	_, err = rt.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, []string{">a", ">b", "base", "<b", "<a"}, trail)
}

func TestChainDefaultsAndMistakes(t *testing.T) {
	t.Run("nil base is a pooled transport", func(t *testing.T) {
		rt := transport.Chain(nil)
		tr, ok := rt.(*http.Transport)
		require.True(t, ok)
		assert.NotSame(t, http.DefaultTransport, tr, "a transport of its own, not the shared global")
		want := cleanhttp.DefaultPooledTransport()
		assert.Equal(t, transport.DefaultMaxIdleConnsPerHost, tr.MaxIdleConnsPerHost)
		assert.Equal(t, transport.DefaultMaxIdleConns, tr.MaxIdleConns)
		assert.Equal(t, want.IdleConnTimeout, tr.IdleConnTimeout, "cleanhttp's otherwise")
		tr.CloseIdleConnections()
	})
	t.Run("nil middleware panics at build time", func(t *testing.T) {
		assert.PanicsWithValue(t, "transport: Chain: nil Middleware", func() {
			transport.Chain(http.DefaultTransport, nil)
		})
	})
	t.Run("middleware returning nil panics at build time", func(t *testing.T) {
		assert.Panics(t, func() {
			transport.Chain(http.DefaultTransport, func(http.RoundTripper) http.RoundTripper { return nil })
		})
	})
	t.Run("negative durations panic at build time", func(t *testing.T) {
		assert.PanicsWithValue(t, "transport: RetryPolicy.MaxDelay is negative (-1s)", func() {
			transport.Retry(transport.RetryPolicy{MaxDelay: -1e9})
		})
	})
}

// http.Client.CloseIdleConnections reaches the base through every layer:
// the next call opens a new connection.
func TestCloseIdleConnectionsReachesTheBase(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("hi"))
	for name, rt := range map[string]func(base http.RoundTripper) http.RoundTripper{
		"every middleware": func(base http.RoundTripper) http.RoundTripper {
			return transport.Chain(base,
				transport.Logging(transport.LogOptions{Logger: slog.New(slog.DiscardHandler)}),
				transport.IdempotencyKeys(),
				transport.Retry(transport.RetryPolicy{}),
				transport.Breaker(transport.BreakerOptions{}),
				transport.RateLimit(transport.RateLimitOptions{}),
				transport.Headers(transport.HeaderOptions{Static: http.Header{"User-Agent": {"test"}}}))
		},
		"NewClientWith": func(base http.RoundTripper) http.RoundTripper {
			return transport.NewClientWith(transport.ClientOptions{Base: base}).Transport
		},
	} {
		t.Run(name, func(t *testing.T) {
			client := &http.Client{Transport: rt(pooledBase(t))}
			get := func() {
				resp, err := client.Get(srv.URL)
				require.NoError(t, err)
				readAll(t, resp)
			}
			before := srv.Conns()
			get()
			get()
			require.Equal(t, before+1, srv.Conns(), "the connection is reused")
			client.CloseIdleConnections()
			get()
			assert.Equal(t, before+2, srv.Conns(), "CloseIdleConnections closed the pooled connection")
		})
	}
}
