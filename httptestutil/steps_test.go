package httptestutil_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
)

// plainClient is a client with its own pool, emptied when the test ends.
func plainClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestAnswers(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name       string
		step       http.Handler
		code       int
		body       string
		retryAfter string
	}{
		{"OK", htu.OK("hi"), 200, "hi", ""},
		{"Status", htu.Status(502), 502, "Bad Gateway", ""},
		{"Respond", htu.Respond(201, http.Header{"X-A": {"b"}}, "made"), 201, "made", ""},
		{"RetryAfter verbatim", htu.RetryAfter(503, "soon"), 503, "Service Unavailable", "soon"},
		{"TooManyRequests", htu.TooManyRequests(7), 429, "Too Many Requests", "7"},
		{"Unavailable", htu.Unavailable(3), 503, "Service Unavailable", "3"},
		{"RetryAfterDate", htu.RetryAfterDate(503, at), 503, "Service Unavailable", at.Format(http.TimeFormat)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := htu.NewServer(t, tc.step)
			resp, body, err := get(t, plainClient(t), srv.URL)
			require.NoError(t, err)
			assert.Equal(t, tc.code, resp.StatusCode)
			assert.Equal(t, tc.body, body)
			assert.Equal(t, tc.retryAfter, resp.Header.Get("Retry-After"))
			if tc.name == "Respond" {
				assert.Equal(t, "b", resp.Header.Get("X-A"))
			}
		})
	}
}

func TestBrokenConnections(t *testing.T) {
	t.Run("Reset", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Reset())
		_, _, err := get(t, plainClient(t), srv.URL)
		require.ErrorIs(t, err, syscall.ECONNRESET)
	})
	t.Run("CloseConn", func(t *testing.T) {
		srv := htu.NewServer(t, htu.CloseConn())
		_, _, err := get(t, plainClient(t), srv.URL)
		require.ErrorIs(t, err, io.EOF)
	})
	t.Run("CutBody", func(t *testing.T) {
		srv := htu.NewServer(t, htu.CutBody(200, 100, "only this"))
		resp, body, err := get(t, plainClient(t), srv.URL)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "only this", body)
	})
}

func TestTiming(t *testing.T) {
	t.Run("Delay holds the headers back", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Delay(100*time.Millisecond, htu.OK("late")))
		start := time.Now()
		_, body, err := get(t, plainClient(t), srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "late", body)
		assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	})
	t.Run("Hang until the client gives up", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Hang())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("data"))
		require.NoError(t, err)
		_, err = plainClient(t).Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("StallBody sends a part then nothing", func(t *testing.T) {
		srv := htu.NewServer(t, htu.StallBody(200, "part"))
		resp, err := plainClient(t).Get(srv.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		buf := make([]byte, 4)
		_, err = io.ReadFull(resp.Body, buf)
		require.NoError(t, err)
		assert.Equal(t, "part", string(buf))
		// The rest never comes: the server's Close (at cleanup) ends it.
	})
	t.Run("Drip sends the body slowly", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Drip(200, "abcde", 20*time.Millisecond))
		start := time.Now()
		_, body, err := get(t, plainClient(t), srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "abcde", body)
		assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	})
	t.Run("Endless never ends", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Endless(503, "xx", time.Millisecond))
		resp, err := plainClient(t).Get(srv.URL)
		require.NoError(t, err)
		n, err := io.CopyN(io.Discard, resp.Body, 1000)
		require.NoError(t, err)
		assert.Equal(t, int64(1000), n)
		require.NoError(t, resp.Body.Close())
	})
}

func TestReadThenLeavesTheRestUnread(t *testing.T) {
	srv := htu.NewServer(t, htu.ReadThen(5, htu.Status(503)))
	req, err := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader(strings.Repeat("u", 1<<20)))
	require.NoError(t, err)
	resp, err := plainClient(t).Do(req)
	// The client may see the 503 or, if the server closed before the upload
	// ended, a write error: either way the server read just 5 bytes.
	if err == nil {
		resp.Body.Close()
		assert.Equal(t, 503, resp.StatusCode)
	} else {
		assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE), "%v", err)
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "uuuuu", string(reqs[0].Body))
}
