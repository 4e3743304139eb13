package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// answersWhileUploading reads the first bytes of the upload, then answers 503
// with a body of size bytes while it reads the rest, as a server that
// rejects an upload early.
func answersWhileUploading(first int64, size int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.CopyN(io.Discard, r.Body, first)
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.Header().Set("Content-Length", itoa(size))
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = rc.Flush()
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = io.Copy(io.Discard, r.Body) })
		_, _ = w.Write(bytes.Repeat([]byte("r"), size))
		_ = rc.Flush()
		wg.Wait()
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// slowUpload is an upload of n bytes that can only be streamed, and that
// slows to a trickle after its first 3 MiB, so that it is still in flight
// when the server answers.
func slowUpload(n int64) io.Reader { return io.LimitReader(&trickle{}, n) }

type trickle struct{ sent int }

func (r *trickle) Read(p []byte) (int, error) {
	if r.sent >= 3<<20 {
		time.Sleep(time.Millisecond) // a slow client's upload, not synchronisation
		p = p[:min(len(p), 4<<10)]
	}
	clear(p)
	r.sent += len(p)
	return len(p), nil
}

// Giving up returns the last response whole: nothing cuts the upload in
// flight before Retry knows it will retry, so the connection under the
// response stays up.
func TestGivingUpLeavesTheResponseWhole(t *testing.T) {
	const size = 1 << 20
	noBudget := transport.RetryBudget{Ratio: 1e-9, MaxBanked: 0.5, MinPerSecond: -1}
	for name, tc := range map[string]struct {
		policy transport.RetryPolicy
		length int64 // the upload's announced length; 0 for unknown
	}{
		"body past the replay limit": {length: 8 << 20},
		"retry budget spent":         {policy: transport.RetryPolicy{Body: bodyreplay.Options{Limit: 16 << 20}, Budget: noBudget}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := htu.NewServer(t, answersWhileUploading(2<<20, size))
			client, sent := newRetrying(t, fast(tc.policy))
			body := newTrackedBody(slowUpload(8 << 20))
			req := newRequest(t, context.Background(), http.MethodPost, srv.URL, body)
			req.Header.Set("Idempotency-Key", "k1")
			req.ContentLength = tc.length
			before := snap(req)
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			got, err := io.Copy(io.Discard, resp.Body)
			require.NoError(t, err, "the returned response was cut under the caller")
			assert.Equal(t, int64(size), got)
			t.Logf("%d attempts", sent.n.Load())
			requireUnchanged(t, req, before)
			requireClosedOnce(t, body)
		})
	}
}

// stalledBody writes first, then stalls until the test ends.
func stalledBody(t *testing.T, first string) *io.PipeReader {
	r, w := io.Pipe()
	go func() { _, _ = w.Write([]byte(first)) }()
	t.Cleanup(func() { _ = w.Close() })
	return r
}

// A caller's body that stalls cannot hold the call past its deadline, whether
// the server answers at once or waits for the whole upload.
func TestStalledBodyCannotHoldTheCallPastItsDeadline(t *testing.T) {
	for name, step := range map[string]http.Handler{
		"server answers at once": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = http.NewResponseController(w).EnableFullDuplex() // answer without reading first
			w.WriteHeader(http.StatusServiceUnavailable)
		}),
		"server waits for the upload": htu.Status(http.StatusServiceUnavailable),
	} {
		t.Run(name, func(t *testing.T) {
			srv := htu.NewServer(t, step)
			client, _ := newRetrying(t, fast(transport.RetryPolicy{}))
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			body := stalledBody(t, "the first part; the rest never comes")
			req := newRequest(t, ctx, http.MethodPut, srv.URL, body)
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			if err == nil {
				resp.Body.Close()
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			} else {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			}
			assert.Less(t, took, 3*time.Second, "the call waited on the caller's stalled body")
		})
	}
}

// The drain of a failed response is part of the wait before the retry, so
// a dripping body does not push the retry past the deadline.
func TestDrainCountsAsPartOfTheWait(t *testing.T) {
	drip := htu.Drip(http.StatusServiceUnavailable, strings.Repeat("x", 100), 10*time.Millisecond)
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		drip.ServeHTTP(w, r)
	}), htu.OK("done"))
	client, sent := newRetrying(t, fast(transport.RetryPolicy{}))
	ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, err := client.Do(newRequest(t, ctx, http.MethodGet, srv.URL, nil))
	require.NoError(t, err)
	assert.Equal(t, "done", readAll(t, resp))
	assert.Equal(t, int32(2), sent.n.Load())
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After: 1 was honoured")
}

// A retry whose body cannot be had (GetBody or Seek fails) is not sent: the
// call returns what the last attempt returned, with its count.
func TestNextBodyFailureReturnsTheLastOutcome(t *testing.T) {
	for name, setBody := range map[string]func(*http.Request){
		"GetBody fails": func(req *http.Request) {
			req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("no copy today") }
		},
		"Seek fails": func(req *http.Request) {
			req.Body = &failingSeeker{Reader: strings.NewReader("payload")}
			req.GetBody = nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := htu.NewServer(t, htu.Status(503), htu.OK("second"))
			var gaveUp []transport.GiveUpReason
			client, _ := newRetrying(t, fast(transport.RetryPolicy{
				OnGiveUp: func(e transport.GiveUpEvent) { gaveUp = append(gaveUp, e.Reason) },
			}))
			req := newRequest(t, context.Background(), http.MethodPut, srv.URL, strings.NewReader("payload"))
			setBody(req)
			resp, err := client.Do(req)
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Equal(t, http.StatusText(http.StatusServiceUnavailable), readAll(t, resp), "the last response, whole")
			assert.Equal(t, 1, srv.Count())
			assert.Equal(t, []transport.GiveUpReason{transport.GiveUpNotReplayable}, gaveUp)
		})
	}
}

// failingSeeker can say where it is, but not go back.
type failingSeeker struct {
	*strings.Reader
	seeks int
}

func (s *failingSeeker) Seek(off int64, whence int) (int64, error) {
	if s.seeks++; s.seeks > 1 {
		return 0, errors.New("cannot rewind")
	}
	return s.Reader.Seek(off, whence)
}

func (s *failingSeeker) Close() error { return nil }
