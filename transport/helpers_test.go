package transport_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// fast returns p with waits short enough for tests over the network.
func fast(p transport.RetryPolicy) transport.RetryPolicy {
	if p.BaseDelay == 0 {
		p.BaseDelay = time.Nanosecond
	}
	return p
}

// counting wraps a RoundTripper and counts the attempts that reach it.
type counting struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(req)
}

// newRetrying returns a client whose transport is Retry(p) over a fresh
// pooled transport, and the counter of attempts sent through it. The pool is
// emptied when the test ends.
func newRetrying(t *testing.T, p transport.RetryPolicy) (*http.Client, *counting) {
	t.Helper()
	return newRetryingOver(pooledBase(t), p)
}

// pooledBase returns a fresh pooled transport, emptied when the test ends.
func pooledBase(t *testing.T) *http.Transport {
	t.Helper()
	base := cleanhttp.DefaultPooledTransport()
	t.Cleanup(base.CloseIdleConnections)
	return base
}

func newRetryingOver(base http.RoundTripper, p transport.RetryPolicy) (*http.Client, *counting) {
	c := &counting{next: base}
	return &http.Client{Transport: transport.Chain(c, transport.Retry(p))}, c
}

// trackedBody is a request body that counts its Close calls and signals the
// first one.
type trackedBody struct {
	io.Reader
	closes atomic.Int32
	closed chan struct{}
}

func newTrackedBody(r io.Reader) *trackedBody {
	return &trackedBody{Reader: r, closed: make(chan struct{})}
}

func (b *trackedBody) Close() error {
	if b.closes.Add(1) == 1 {
		close(b.closed)
	}
	return nil
}

// requireClosedOnce waits (boundedly) for the body's first Close, since a
// RoundTripper may close it after returning, and checks it was the only one.
func requireClosedOnce(t *testing.T, b *trackedBody) {
	t.Helper()
	select {
	case <-b.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("request body never closed")
	}
	assert.Equal(t, int32(1), b.closes.Load(), "request body closed more than once")
}

// snapshot is what a middleware must leave as it found on the caller's
// request.
type snapshot struct {
	method  string
	url     string
	header  http.Header
	body    io.ReadCloser
	getBody bool
	length  int64
	ctx     context.Context
}

func snap(req *http.Request) snapshot {
	return snapshot{
		method: req.Method, url: req.URL.String(), header: req.Header.Clone(),
		body: req.Body, getBody: req.GetBody != nil, length: req.ContentLength, ctx: req.Context(),
	}
}

func requireUnchanged(t *testing.T, req *http.Request, s snapshot) {
	t.Helper()
	assert.Equal(t, s, snap(req), "the caller's request was modified")
}

func newRequest(t *testing.T, ctx context.Context, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	return req
}

// opaque hides everything but Read, so that net/http sets no GetBody and
// no length: a body that can only be streamed.
func opaque(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// closedURL returns the URL of a loopback port that was just freed, so
// that connecting to it is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/"
}

// bothProtocols starts a server over HTTP/1.1 or HTTP/2 (TLS), and a base
// transport for it.
func bothProtocols(t *testing.T) map[string]func(h http.Handler) (*htu.Server, http.RoundTripper) {
	return map[string]func(h http.Handler) (*htu.Server, http.RoundTripper){
		"HTTP/1.1": func(h http.Handler) (*htu.Server, http.RoundTripper) {
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			return htu.NewServer(t, h), tr
		},
		"HTTP/2": func(h http.Handler) (*htu.Server, http.RoundTripper) {
			srv := htu.NewTLSServer(t, h)
			tr := srv.Client().Transport.(*http.Transport)
			t.Cleanup(tr.CloseIdleConnections)
			return srv, tr
		},
	}
}
