package transport_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// fullChain is every layer of rtchain over base, logging enabled.
func fullChain(t *testing.T, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	l, _, _ := jsonLogger(slog.LevelDebug)
	return transport.NewClientWith(transport.ClientOptions{
		Base: base, Log: transport.LogOptions{Logger: l, LogHeaders: true},
		Retry:   transport.RetryPolicy{BaseDelay: time.Millisecond, PerTryTimeout: time.Second},
		Headers: transport.HeaderOptions{Static: http.Header{"User-Agent": {"bad-input"}}, AttemptHeader: "Retry-Attempt"},
	}).Transport
}

// closeErrBody fails on Close.
type closeErrBody struct{ io.Reader }

func (closeErrBody) Close() error { return errors.New("close failed") }

// Bad input gets a clear error or the documented behaviour: never a panic,
// a hang or a leak (goleak checks the last).
func TestBadInput(t *testing.T) {
	nilBody := func(codes ...int) http.RoundTripper {
		n := 0
		return transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			code := codes[min(n, len(codes)-1)]
			n++
			return &http.Response{StatusCode: code, Header: http.Header{}, Request: req}, nil
		})
	}
	for _, tc := range []struct {
		name  string
		base  func(t *testing.T) http.RoundTripper
		req   func(t *testing.T, url string) *http.Request
		check func(t *testing.T, resp *http.Response, err error)
	}{
		{
			name: "Retry-After on a 200 is ignored",
			base: func(t *testing.T) http.RoundTripper {
				return pooledBase(t)
			},
			check: func(t *testing.T, resp *http.Response, err error) {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
			},
		},
		{
			name: "responses with nil bodies",
			base: func(*testing.T) http.RoundTripper { return nilBody(503, 200) },
			check: func(t *testing.T, resp *http.Response, err error) {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
			},
		},
		{
			name: "nil URL",
			base: func(t *testing.T) http.RoundTripper { return pooledBase(t) },
			req: func(t *testing.T, _ string) *http.Request {
				return &http.Request{Method: http.MethodPost, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("x"))}
			},
			check: func(t *testing.T, _ *http.Response, err error) { require.ErrorContains(t, err, "nil Request.URL") },
		},
		{
			name: "nil Header",
			base: func(t *testing.T) http.RoundTripper { return pooledBase(t) },
			req: func(t *testing.T, u string) *http.Request {
				pu, err := url.Parse(u)
				require.NoError(t, err)
				return &http.Request{Method: http.MethodPost, URL: pu, Host: pu.Host}
			},
			check: func(t *testing.T, resp *http.Response, err error) {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
			},
		},
		{
			name: "a body whose Close fails",
			base: func(t *testing.T) http.RoundTripper { return pooledBase(t) },
			req: func(t *testing.T, u string) *http.Request {
				return newRequest(t, context.Background(), http.MethodPut, u, closeErrBody{strings.NewReader("data")})
			},
			check: func(t *testing.T, resp *http.Response, err error) {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
			},
		},
		{
			name: "a body whose Read fails",
			base: func(t *testing.T) http.RoundTripper { return pooledBase(t) },
			req: func(t *testing.T, u string) *http.Request {
				return newRequest(t, context.Background(), http.MethodPut, u, &failingReader{after: 3, err: errors.New("disk gone")})
			},
			check: func(t *testing.T, _ *http.Response, err error) { require.ErrorContains(t, err, "disk gone") },
		},
		{
			name: "a context cancelled before the call",
			base: func(t *testing.T) http.RoundTripper { return pooledBase(t) },
			req: func(t *testing.T, u string) *http.Request {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return newRequest(t, ctx, http.MethodGet, u, nil)
			},
			check: func(t *testing.T, _ *http.Response, err error) { require.ErrorIs(t, err, context.Canceled) },
		},
		{
			name: "a RoundTripper that returns nothing at all",
			base: func(*testing.T) http.RoundTripper {
				return transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
			},
			check: func(t *testing.T, _ *http.Response, err error) {
				require.ErrorContains(t, err, "nil response and a nil error")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := htu.NewServer(t, htu.Respond(200, http.Header{"Retry-After": {"3600"}}, "ok"))
			rt := fullChain(t, tc.base(t))
			req := newRequest(t, context.Background(), http.MethodGet, srv.URL, nil)
			if tc.req != nil {
				req = tc.req(t, srv.URL)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan struct{})
			var resp *http.Response
			var err error
			go func() {
				defer close(done)
				require.NotPanics(t, func() { resp, err = rt.RoundTrip(req) })
			}()
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatal("RoundTrip hung")
			}
			tc.check(t, resp, err)
			if resp != nil && resp.Body != nil {
				resp.Body.Close()
			}
		})
	}
}

// Malformed Retry-After values through the real network: none panics, none
// makes the call wait past MaxRetryAfter.
func TestBadRetryAfterOverTheNetwork(t *testing.T) {
	for _, v := range []string{"-1", "soon", "1.5", "99999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "", "\t", "0x10"} {
		t.Run(v, func(t *testing.T) {
			srv := htu.NewServer(t, htu.RetryAfter(503, v), htu.OK("ok"))
			client, _ := newRetrying(t, transport.RetryPolicy{BaseDelay: time.Millisecond, MaxRetryAfter: time.Second})
			start := time.Now()
			resp, err := client.Get(srv.URL)
			require.NoError(t, err)
			readAll(t, resp)
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
}
