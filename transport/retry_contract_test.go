package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// Every path through Retry leaves the caller's request as it was and closes
// its body exactly once.
func TestRetryRoundTripperContract(t *testing.T) {
	for name, tc := range map[string]struct {
		steps  []http.Handler
		method string
		policy transport.RetryPolicy
		ctx    func() (context.Context, context.CancelFunc)
	}{
		"success":            {steps: []http.Handler{htu.OK("")}, method: http.MethodPut},
		"retried to success": {steps: []http.Handler{htu.Status(503), htu.Reset(), htu.OK("")}, method: http.MethodPut},
		"exhausted":          {steps: []http.Handler{htu.Status(503)}, method: http.MethodPut},
		"error exhausted":    {steps: []http.Handler{htu.Reset()}, method: http.MethodPut},
		"not retryable POST": {steps: []http.Handler{htu.Status(503)}, method: http.MethodPost},
		"per-try timeouts":   {steps: []http.Handler{htu.Hang()}, method: http.MethodPut, policy: transport.RetryPolicy{PerTryTimeout: 20 * time.Millisecond, MaxRetries: 1}},
		"replay limit passed": {steps: []http.Handler{htu.Status(503), htu.OK("")}, method: http.MethodPut,
			policy: transport.RetryPolicy{Body: bodyreplay.Options{Limit: 4}}},
		"cancelled before": {steps: []http.Handler{htu.OK("")}, method: http.MethodPut,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			}},
		"cancelled in a wait": {steps: []http.Handler{htu.Unavailable(10)}, method: http.MethodPut,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 10*time.Second)
			}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := htu.NewServer(t, tc.steps...)
			client, _ := newRetrying(t, fast(tc.policy))
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			body := newTrackedBody(opaque(bytes.Repeat([]byte("b"), 100)))
			req := newRequest(t, ctx, tc.method, srv.URL+"/path?q=1", body)
			req.Header.Set("X-Caller", "mine")
			before := snap(req)
			if name == "cancelled in a wait" {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			resp, err := client.Do(req)
			if err == nil {
				readAll(t, resp)
			}
			requireUnchanged(t, req, before)
			requireClosedOnce(t, body)
		})
	}
}

func TestRetryBodyReplay(t *testing.T) {
	const size = 8 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	halfThen503 := htu.ReadThen(size/2, htu.Status(503))

	t.Run("8 MiB stream, server reads half then 503: exact bytes on the retry", func(t *testing.T) {
		srv := htu.NewServer(t, halfThen503, htu.OK("stored"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{Body: bodyreplay.Options{Limit: 16 << 20}}))
		body := newTrackedBody(opaque(data))
		req := newRequest(t, context.Background(), http.MethodPut, srv.URL, body)
		resp, err := client.Do(req)
		require.NoError(t, err)
		require.Equal(t, "stored", readAll(t, resp))
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		require.True(t, bytes.Equal(data, reqs[1].Body), "retry sent %d bytes, want the exact %d", len(reqs[1].Body), size)
		requireClosedOnce(t, body)
	})
	t.Run("past the memory limit: spilled to a file, exact bytes on the retry", func(t *testing.T) {
		srv := htu.NewServer(t, halfThen503, htu.OK("stored"))
		dir := t.TempDir()
		client, _ := newRetrying(t, fast(transport.RetryPolicy{Body: bodyreplay.Options{Limit: 1 << 20, SpillDir: dir}}))
		body := newTrackedBody(opaque(data))
		resp, err := client.Do(newRequest(t, context.Background(), http.MethodPut, srv.URL, body))
		require.NoError(t, err)
		require.Equal(t, "stored", readAll(t, resp))
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		require.True(t, bytes.Equal(data, reqs[1].Body), "retry sent %d bytes, want the exact %d", len(reqs[1].Body), size)
		requireClosedOnce(t, body)
		left, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Empty(t, left, "the spill file is removed")
	})
	for name, p := range map[string]transport.RetryPolicy{
		"memory only, limit below the size: one attempt, no retry": {Body: bodyreplay.Options{Limit: 1 << 20, SpillLimit: -1}},
		"memory and file below the size: one attempt, no retry":    {Body: bodyreplay.Options{Limit: 1 << 20, SpillLimit: 1 << 20}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := htu.NewServer(t, halfThen503, htu.OK("stored"))
			p.Body.SpillDir = t.TempDir()
			client, attempts := newRetrying(t, fast(p))
			body := newTrackedBody(opaque(data))
			resp, err := client.Do(newRequest(t, context.Background(), http.MethodPut, srv.URL, body))
			require.NoError(t, err)
			readAll(t, resp)
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			require.Equal(t, int32(1), attempts.n.Load())
			requireClosedOnce(t, body)
		})
	}
	t.Run("an io.Seeker is rewound", func(t *testing.T) {
		srv := htu.NewServer(t, halfThen503, htu.OK("stored"))
		// A limit far below the size: a seeker needs no record.
		client, _ := newRetrying(t, fast(transport.RetryPolicy{Body: bodyreplay.Options{Limit: 1}}))
		f := &seekCloser{Reader: bytes.NewReader(append([]byte("skipped"), data...))}
		_, err := f.Seek(int64(len("skipped")), 0)
		require.NoError(t, err)
		resp, err := client.Do(newRequest(t, context.Background(), http.MethodPut, srv.URL, f))
		require.NoError(t, err)
		require.Equal(t, "stored", readAll(t, resp))
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		require.True(t, bytes.Equal(data, reqs[1].Body))
		require.Equal(t, 1, f.closes)
	})
	t.Run("an *os.File reaches the transport as itself, and retries get their own", func(t *testing.T) {
		srv := htu.NewServer(t, halfThen503, htu.OK("stored"))
		path := filepath.Join(t.TempDir(), "upload")
		require.NoError(t, os.WriteFile(path, append([]byte("skipped"), data...), 0o600))
		f, err := os.Open(path)
		require.NoError(t, err)
		_, err = f.Seek(int64(len("skipped")), 0)
		require.NoError(t, err)
		var bodies []io.ReadCloser
		base := pooledBase(t)
		spy := transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			bodies = append(bodies, r.Body)
			return base.RoundTrip(r)
		})
		client, _ := newRetryingOver(spy, fast(transport.RetryPolicy{Body: bodyreplay.Options{Limit: 1}}))
		req := newRequest(t, context.Background(), http.MethodPut, srv.URL, f)
		req.ContentLength = size
		resp, err := client.Do(req)
		require.NoError(t, err)
		require.Equal(t, "stored", readAll(t, resp))
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		require.True(t, bytes.Equal(data, reqs[1].Body))
		require.Len(t, bodies, 2)
		assert.Same(t, f, bodies[0], "the caller's file, unwrapped: the kernel can sendfile it")
		retryFile, ok := bodies[1].(*os.File)
		require.True(t, ok, "the retry's body is a file too: %T", bodies[1])
		closed := func(f *os.File) bool { _, err := f.Stat(); return errors.Is(err, os.ErrClosed) }
		require.Eventually(t, func() bool { return closed(f) && closed(retryFile) },
			5*time.Second, 5*time.Millisecond, "the transport closes each attempt's file")
	})
	t.Run("GetBody is used when set", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(503), htu.Status(503), htu.OK("stored"))
		client, _ := newRetrying(t, fast(transport.RetryPolicy{Body: bodyreplay.Options{Limit: -1}}))
		req := newRequest(t, context.Background(), http.MethodPut, srv.URL, strings.NewReader("payload"))
		getBody := req.GetBody
		var calls int
		req.GetBody = func() (rc io.ReadCloser, err error) { calls++; return getBody() }
		resp, err := client.Do(req)
		require.NoError(t, err)
		readAll(t, resp)
		require.Equal(t, 2, calls)
		for _, r := range srv.Requests() {
			require.Equal(t, "payload", string(r.Body))
		}
	})
}

type seekCloser struct {
	*bytes.Reader
	closes int
}

func (s *seekCloser) Close() error { s.closes++; return nil }
