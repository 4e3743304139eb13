package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// timeoutClient is NewClient with short timeouts, so that the tests are
// quick.
func timeoutClient(t *testing.T, response, stall time.Duration) *http.Client {
	t.Helper()
	c := transport.NewClientWith(transport.ClientOptions{Base: pooledBase(t), Timeout: response, BodyStallTimeout: stall,
		Retry: transport.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// A download that keeps moving is never cut, however long it takes: 40
// bytes dripped over about 1.2 s through timeouts of 300 ms. Under an
// http.Client.Timeout of the same 300 ms, the same download fails.
func TestASlowDownloadThatMovesIsNotCut(t *testing.T) {
	body := strings.Repeat("x", 40)
	srv := htu.NewServer(t, htu.Drip(http.StatusOK, body, 30*time.Millisecond))
	resp, err := timeoutClient(t, 300*time.Millisecond, 300*time.Millisecond).Get(srv.URL)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, body, string(got))

	whole := timeoutClient(t, -1, -1)
	whole.Timeout = 300 * time.Millisecond
	resp, err = whole.Get(srv.URL)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Error(t, err, "a whole-call timeout cuts the download")
}

// A body that stops moving fails after BodyStallTimeout, with an error
// that says so and is a timeout, whichever way the stall is ended: by the
// call's context (with a response timeout) or by closing the body (without
// one, the call has no context of its own), over HTTP/1.1 and HTTP/2. The
// Read in flight returns at once, and what arrived is kept.
func TestAStalledBodyFails(t *testing.T) {
	for name, start := range bothProtocols(t) {
		for mechanism, response := range map[string]time.Duration{"context": time.Second, "close": -1} {
			t.Run(name+", "+mechanism, func(t *testing.T) {
				srv, base := start(htu.StallBody(http.StatusOK, "first part "))
				c := transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: response, BodyStallTimeout: 200 * time.Millisecond})
				t.Cleanup(c.CloseIdleConnections)
				resp, err := c.Get(srv.URL)
				require.NoError(t, err)
				assert.Equal(t, map[string]string{"HTTP/1.1": "HTTP/1.1", "HTTP/2": "HTTP/2.0"}[name], resp.Proto)
				begun := time.Now()
				got, err := io.ReadAll(resp.Body)
				took := time.Since(begun)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, "first part ", string(got), "what arrived is kept")
				require.ErrorIs(t, err, transport.ErrBodyStalled)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				var netErr net.Error
				require.ErrorAs(t, err, &netErr)
				assert.True(t, netErr.Timeout())
				assert.Contains(t, err.Error(), "stalled for 200ms")
				assert.Less(t, took, 5*time.Second)
				assert.False(t, errors.Is(err, transport.ErrResponseTimeout))
			})
		}
	}
}

// The caller's own time between Reads is not a stall.
func TestTimeBetweenReadsIsTheCallers(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("hello, world"))
	resp, err := timeoutClient(t, time.Second, 100*time.Millisecond).Get(srv.URL)
	require.NoError(t, err)
	first := make([]byte, 5)
	_, err = io.ReadFull(resp.Body, first)
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the caller is slow, not the server
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "hello, world", string(first)+string(rest))
}

// A server that never answers fails the call after Timeout, retries
// included, with ErrResponseTimeout; the caller's request is untouched and
// its body closed once.
func TestNoResponseWithinTheTimeout(t *testing.T) {
	srv := htu.NewServer(t, htu.Hang())
	body := newTrackedBody(strings.NewReader("payload"))
	req := newRequest(t, context.Background(), http.MethodPut, srv.URL, body)
	before := snap(req)
	start := time.Now()
	_, err := timeoutClient(t, 300*time.Millisecond, -1).Do(req)
	require.ErrorIs(t, err, transport.ErrResponseTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	requireUnchanged(t, req, before)
	requireClosedOnce(t, body)
}

// A wait that would end after the timeout is not begun: the last response
// is returned as it came.
func TestRetryWaitsEndWithinTheTimeout(t *testing.T) {
	srv := htu.NewServer(t, htu.RetryAfterSeconds(http.StatusServiceUnavailable, 2), htu.OK("late"))
	start := time.Now()
	resp, err := timeoutClient(t, 500*time.Millisecond, -1).Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	readAll(t, resp)
	assert.Less(t, time.Since(start), time.Second, "the 2 s wait was not begun")
	assert.Equal(t, 1, srv.Count())
}

// The caller's own deadline stays the caller's: its error is the context's.
func TestTheCallersDeadlineIsNotTheClients(t *testing.T) {
	srv := htu.NewServer(t, htu.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := timeoutClient(t, 10*time.Second, -1).Do(newRequest(t, ctx, http.MethodGet, srv.URL, nil))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, errors.Is(err, transport.ErrResponseTimeout))
}

// A stall ends a resumable download: the body's Close, which ends the
// stalled Read, is not taken for a network fault to resume from.
func TestAStalledResumableBodyIsNotResumed(t *testing.T) {
	const etag = `"v1"`
	stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", etag)
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", strconv.Itoa(len(download)))
		_, _ = w.Write(download[:10000])
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done() // then nothing, until the client gives up
	})
	srv := htu.NewServer(t, stall, serveRanges(etag))
	c := transport.NewClientWith(transport.ClientOptions{Base: pooledBase(t), Timeout: -1, BodyStallTimeout: 200 * time.Millisecond,
		Retry: transport.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.ErrorIs(t, err, transport.ErrBodyStalled)
	assert.Len(t, got, 10000, "what arrived is kept")
	assert.Len(t, srv.Requests(), 1, "no request for the rest after a stall")
}
