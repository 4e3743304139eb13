package transport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// uploads is a server that reads each request's body to its end and keeps
// what it got (a hash, or the error that ended the read); its first
// request then waits until it is cancelled, so a hedge wins.
type uploads struct {
	n   atomic.Int64
	mu  sync.Mutex
	got map[int64]upload
}

type upload struct {
	sum [32]byte
	err error
}

func (u *uploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := u.take(r)
	if err != nil {
		return
	}
	if n == 1 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	fmt.Fprint(w, "attempt ", n)
}

// take reads r's body to its end and keeps what came, as the upload of
// request n.
func (u *uploads) take(r *http.Request) (n int64, err error) {
	n = u.n.Add(1)
	b, err := io.ReadAll(r.Body)
	u.mu.Lock()
	u.got[n] = upload{sha256.Sum256(b), err}
	u.mu.Unlock()
	return n, err
}

// uploaded waits for n uploads to have ended and returns them.
func (u *uploads) uploaded(t *testing.T, n int) map[int64]upload {
	t.Helper()
	require.Eventually(t, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return len(u.got) >= n
	}, 5*time.Second, time.Millisecond)
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got
}

// putAcrossAHedge PUTs payload to url through Hedge (o, with a 20 ms delay)
// over base, from a pipe that gives the first bytes at once and the rest
// only once the hedge is on its way, within 10 s, and returns the response.
func putAcrossAHedge(t *testing.T, base http.RoundTripper, o transport.HedgeOptions, url string, payload []byte, first int) *http.Response {
	t.Helper()
	hedgeSent := make(chan struct{})
	o.Delay = 20 * time.Millisecond
	o.OnHedge = func(e transport.HedgeEvent) {
		if !e.Won {
			close(hedgeSent)
		}
	}
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(payload[:first])
		<-hedgeSent // the rest once the hedge is on its way
		_, _ = pw.Write(payload[first:])
		_ = pw.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, pr)
	require.NoError(t, err)
	resp, err := hedged(base, o).Do(req)
	require.NoError(t, err)
	return resp
}

// A hedge sent while the first attempt is still uploading a body that can
// be read only once (a pipe, of unknown length) gets all of it, as the
// first attempt does: both read one record.
func TestHedgeStartedMidUploadGetsTheWholeBody(t *testing.T) {
	for name, start := range bothProtocols(t) {
		t.Run(name, func(t *testing.T) {
			u := &uploads{got: map[int64]upload{}}
			srv, base := start(u)
			payload := bytes.Repeat([]byte("0123456789abcdef"), 2<<10) // 32 KiB
			resp := putAcrossAHedge(t, base, transport.HedgeOptions{}, srv.URL, payload, 10<<10)
			assert.Equal(t, "attempt 2", readAll(t, resp))
			for n, up := range u.uploaded(t, 2) {
				require.NoError(t, up.err, "attempt %d", n)
				assert.Equal(t, sha256.Sum256(payload), up.sum, "attempt %d got the whole body", n)
			}
		})
	}
}

// A body of unknown length that outgrows Body.Limit goes on in the attempt
// that reads past the record; a hedge that reaches the record's end then
// gives way with an error the server sees: no server takes a part of the
// body for the whole of it.
func TestHedgeBodyPastTheLimitIsNeverCut(t *testing.T) {
	for name, start := range bothProtocols(t) {
		t.Run(name, func(t *testing.T) {
			u := &uploads{got: map[int64]upload{}}
			srv, base := start(u)
			payload := bytes.Repeat([]byte("z"), 8<<10)
			resp := putAcrossAHedge(t, base, transport.HedgeOptions{Body: bodyreplay.Options{Limit: 1 << 10}}, srv.URL, payload, 512)
			won := readAll(t, resp)
			whole := 0
			for n, up := range u.uploaded(t, 2) {
				if up.err == nil {
					whole++
					assert.Equal(t, sha256.Sum256(payload), up.sum, "attempt %d took a part for the whole", n)
				}
			}
			assert.Equal(t, 1, whole, "one attempt read on past the record; the other gave way (%s won)", won)
		})
	}
}

// A body that is a regular file gives each hedge a handle of its own on it;
// the caller's handle is closed, and so is every one Hedge opened.
func TestHedgeReopensAFileBody(t *testing.T) {
	payload := bytes.Repeat([]byte("f"), 256<<10) // past Body.Limit: a file needs no record
	path := filepath.Join(t.TempDir(), "upload")
	require.NoError(t, os.WriteFile(path, payload, 0o600))
	for name, start := range bothProtocols(t) {
		t.Run(name, func(t *testing.T) {
			u := &uploads{got: map[int64]upload{}}
			srv, base := start(u)
			fds := openFiles(t)
			f, err := os.Open(path)
			require.NoError(t, err)
			req, err := http.NewRequest(http.MethodPut, srv.URL, f)
			require.NoError(t, err)
			resp, err := hedged(base, transport.HedgeOptions{Delay: 20 * time.Millisecond}).Do(req)
			require.NoError(t, err)
			assert.Equal(t, "attempt 2", readAll(t, resp))
			for n, up := range u.uploaded(t, 2) {
				require.NoError(t, up.err, "attempt %d", n)
				assert.Equal(t, sha256.Sum256(payload), up.sum, "attempt %d got the whole file", n)
			}
			require.Eventually(t, func() bool { _, err := f.Stat(); return errors.Is(err, os.ErrClosed) }, 5*time.Second, time.Millisecond,
				"the caller's file is closed")
			require.Eventually(t, func() bool { return openFiles(t) <= fds }, 5*time.Second, time.Millisecond,
				"every handle Hedge opened is closed")
		})
	}
}

// openFiles counts the process's open descriptors that are regular files.
func openFiles(t *testing.T) int {
	t.Helper()
	return openDescriptors(t, func(fd string) bool {
		info, err := os.Stat(fd)
		return err == nil && info.Mode().IsRegular()
	})
}

// filesOpenIn counts the process's open descriptors on files in dir,
// removed ones included.
func filesOpenIn(t *testing.T, dir string) int {
	t.Helper()
	return openDescriptors(t, func(fd string) bool {
		target, err := os.Readlink(fd)
		return err == nil && strings.HasPrefix(target, dir+string(filepath.Separator))
	})
}

// openDescriptors counts the process's open descriptors whose
// /proc/self/fd entry matches, and skips the test without /proc.
func openDescriptors(t *testing.T, match func(fd string) bool) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	n := 0
	for _, e := range entries {
		if match(filepath.Join("/proc/self/fd", e.Name())) {
			n++
		}
	}
	return n
}

// stallingBody sends a few bytes and then stalls until it is closed.
type stallingBody struct {
	sent   atomic.Bool
	closed chan struct{}
	once   sync.Once
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if !b.sent.Swap(true) {
		return copy(p, "a start, and then nothing"), nil
	}
	<-b.closed
	return 0, io.ErrClosedPipe
}

func (b *stallingBody) Close() error { b.once.Do(func() { close(b.closed) }); return nil }

// A body that stalls while both attempts wait on it: the caller's deadline
// ends the call at once, and the body is closed (ending the read stuck in
// it), with no goroutine left behind (goleak).
func TestHedgeOfAStallingBodyEndsWithTheCall(t *testing.T) {
	for name, start := range bothProtocols(t) {
		t.Run(name, func(t *testing.T) {
			srv, base := start(&uploads{got: map[int64]upload{}})
			var hedges atomic.Int32
			client := hedged(base, transport.HedgeOptions{Delay: 10 * time.Millisecond,
				OnHedge: func(e transport.HedgeEvent) {
					if !e.Won {
						hedges.Add(1)
					}
				}})
			body := &stallingBody{closed: make(chan struct{})}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, body)
			require.NoError(t, err)
			begun := time.Now()
			_, err = client.Do(req)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(begun), 3*time.Second, "the deadline ends the call")
			assert.Equal(t, int32(1), hedges.Load(), "a hedge was sent while the upload stalled")
			select {
			case <-body.closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the caller's body was never closed")
			}
		})
	}
}

// wholeUploads is uploads whose hedges answer only once the first
// attempt's upload has ended (within 5 s), so that a hedge that read the
// body faster than the first attempt sent it does not win and cut the
// first one off: each attempt's whole upload can be checked.
type wholeUploads struct {
	uploads
	first     chan struct{} // closed when the first request's body has been read
	firstOnce sync.Once
}

func newWholeUploads() *wholeUploads {
	return &wholeUploads{uploads: uploads{got: map[int64]upload{}}, first: make(chan struct{})}
}

func (u *wholeUploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := u.take(r)
	var wait <-chan struct{} = u.first
	if n == 1 {
		u.firstOnce.Do(func() { close(u.first) })
		wait = r.Context().Done() // until the hedge wins
	}
	select {
	case <-wait:
	case <-r.Context().Done():
		return
	case <-time.After(5 * time.Second):
	}
	fmt.Fprint(w, "attempt ", n)
}

// A body of unknown length past the memory limit is hedged when the hedge
// may keep the rest in a file (Body.SpillLimit): the hedge, started after
// more than the memory limit was uploaded, sends the same bytes as the
// first attempt, and the file is closed and removed with the call.
func TestHedgeSpillsABodyPastTheMemoryLimit(t *testing.T) {
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i % 251) // a byte out of place shows
	}
	for name, start := range bothProtocols(t) {
		t.Run(name, func(t *testing.T) {
			u := newWholeUploads()
			srv, base := start(u)
			dir := t.TempDir()
			require.Zero(t, filesOpenIn(t, dir)) // skips without /proc/self/fd, here rather than in the spy
			o := transport.HedgeOptions{Body: bodyreplay.Options{SpillLimit: 4 << 20, SpillDir: dir}}
			var sent atomic.Int32
			spilled := make(chan bool, 1)
			spy := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				if sent.Add(1) == 2 { // the hedge, while the first attempt reads the first 200 KiB
					deadline := time.Now().Add(5 * time.Second)
					for filesOpenIn(t, dir) == 0 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					spilled <- filesOpenIn(t, dir) == 1
				}
				return base.RoundTrip(req)
			})
			resp := putAcrossAHedge(t, spy, o, srv.URL, payload, 200<<10)
			assert.Equal(t, "attempt 2", readAll(t, resp))
			assert.True(t, <-spilled, "the record had its file when the hedge was sent")
			got := u.uploaded(t, 2)
			for n, up := range got {
				require.NoError(t, up.err, "attempt %d", n)
				assert.Equal(t, sha256.Sum256(payload), up.sum, "attempt %d got the whole body", n)
			}
			assert.Equal(t, got[1].sum, got[2].sum, "both attempts sent the same bytes")
			require.Eventually(t, func() bool { return filesOpenIn(t, dir) == 0 }, 5*time.Second, time.Millisecond,
				"the record's file is closed")
			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, left, "the record's file is removed")
		})
	}
}

// A body of known length is hedged up to memory and file together, and
// sent once, unhedged, past them; the caller's body is closed once either way.
func TestHedgeOfAKnownLengthWithASpill(t *testing.T) {
	o := bodyreplay.Options{Limit: 64 << 10, SpillLimit: 192 << 10}
	for name, c := range map[string]struct {
		size   int
		hedged bool
	}{"256 KiB, memory and file": {256 << 10, true}, "past both": {256<<10 + 1, false}} {
		t.Run(name, func(t *testing.T) {
			u := newWholeUploads()
			srv := htu.NewServer(t, u)
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			o.SpillDir = t.TempDir()
			client := hedged(tr, transport.HedgeOptions{Delay: 10 * time.Millisecond, Body: o})
			payload := bytes.Repeat([]byte("0123456789abcdef"), c.size/16)
			payload = append(payload, make([]byte, c.size%16)...)
			body := &closeCounter{Reader: bytes.NewReader(payload)}
			deadline := 10 * time.Second
			if !c.hedged {
				deadline = 500 * time.Millisecond // what the unhedged call waits for
			}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, body)
			require.NoError(t, err)
			req.ContentLength = int64(c.size)
			resp, err := client.Do(req)
			if c.hedged {
				require.NoError(t, err)
				assert.Equal(t, "attempt 2", readAll(t, resp))
				for n, up := range u.uploaded(t, 2) {
					require.NoError(t, up.err, "attempt %d", n)
					assert.Equal(t, sha256.Sum256(payload), up.sum, "attempt %d got the whole body", n)
				}
			} else {
				require.Error(t, err, "not hedged: the slow attempt ran into the deadline")
				assert.Equal(t, int64(1), u.n.Load(), "sent once")
			}
			require.Eventually(t, func() bool { return body.closes.Load() == 1 }, 5*time.Second, time.Millisecond)
			assert.Equal(t, int32(1), body.closes.Load(), "the caller's body is closed once")
			require.Eventually(t, func() bool { return filesOpenIn(t, o.SpillDir) == 0 }, 5*time.Second, time.Millisecond)
		})
	}
}

// BenchmarkHedgedBody is a hedged call's cost by kind of body, over a base
// that reads each attempt's body as net/http's HTTP/1 writer does over TCP
// (io.Copy to a writer without ReadFrom: the body's WriteTo, or else a
// fresh 32 KiB buffer) and answers at once ("one attempt": no hedge is
// sent), or holds the first attempt until it is cancelled ("hedged": a
// hedge is sent and wins).
//
// Run: go test -run '^$' -bench HedgedBody -benchmem ./transport
func BenchmarkHedgedBody(b *testing.B) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 512) // 8 KiB
	bodies := []struct {
		name string
		req  func() *http.Request
	}{
		{"none", func() *http.Request { return benchRequest(b, nil, 0) }},
		{"GetBody", func() *http.Request { return benchRequest(b, bytes.NewReader(payload), int64(len(payload))) }},
		{"once known length", func() *http.Request {
			return benchRequest(b, &closeCounter{Reader: bytes.NewReader(payload)}, int64(len(payload)))
		}},
		{"once unknown length", func() *http.Request { return benchRequest(b, &closeCounter{Reader: bytes.NewReader(payload)}, 0) }},
	}
	for _, mode := range []struct {
		name  string
		delay time.Duration
		hold  bool
	}{{"one attempt", time.Hour, false}, {"hedged", time.Microsecond, true}} {
		for _, body := range bodies {
			b.Run(mode.name+"/"+body.name, func(b *testing.B) {
				var calls atomic.Int64
				base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
					if req.Body != nil {
						_, _ = io.Copy(struct{ io.Writer }{io.Discard}, req.Body)
						_ = req.Body.Close()
					}
					if mode.hold && calls.Add(1)%2 == 1 {
						<-req.Context().Done()
						return nil, req.Context().Err()
					}
					return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
				})
				rt := transport.Chain(base, transport.Hedge(transport.HedgeOptions{Delay: mode.delay, Budget: 1}))
				b.ReportAllocs()
				for b.Loop() {
					resp, err := rt.RoundTrip(body.req())
					if err != nil {
						b.Fatal(err)
					}
					_ = resp.Body.Close()
				}
			})
		}
	}
}

func benchRequest(b *testing.B, body io.Reader, length int64) *http.Request {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPut, "http://api.test/items/1", body)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = length
	return req
}
