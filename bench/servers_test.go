package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"go.uber.org/goleak"

	htu "github.com/rtchain/rtchain/httptestutil"
)

func TestMain(m *testing.M) {
	// hedgedhttp, a peer, leaves the goroutines of its hedges' pool
	// running after its calls return (seen in TestHedgeFigures); rtchain's
	// own are checked like any.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/cristalhq/hedgedhttp.runInPool.func1"))
}

// cycling answers the nth request with 503 unless n%period == period-1,
// after reading the request body.
func cycling(period int64) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1)%period != 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
}

// countingBase is a pooled transport that counts the TCP connections it
// dials.
type countingBase struct {
	*http.Transport
	dials atomic.Int64
}

func newBase(tb testing.TB) *countingBase {
	tb.Helper()
	b := &countingBase{Transport: cleanhttp.DefaultPooledTransport()}
	dial := b.DialContext
	b.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		b.dials.Add(1)
		return dial(ctx, network, addr)
	}
	tb.Cleanup(b.CloseIdleConnections)
	return b
}

// roundTrip sends req through rt under a context it cancels afterwards, and
// closes the response. The context matters for failsafehttp: when its
// retries are exceeded it returns an error and neither returns nor closes
// the last response, whose connection then leaks until the context ends.
func roundTrip(tb testing.TB, rt http.RoundTripper, req *http.Request) (int, error) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func get(tb testing.TB, rt http.RoundTripper, url string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	code, err := roundTrip(tb, rt, req)
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// pattern is an endless, cheap, non-seekable reader.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

// streamOnly is a body with no length, no GetBody and no Seek.
func streamOnly(n int64) io.Reader { return struct{ io.Reader }{io.LimitReader(pattern{}, n)} }

// heapPeak samples the live heap every 200µs until stop is called, and
// returns the peak above the level when it started.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > base && v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

func newServer(tb testing.TB, h http.Handler) string {
	tb.Helper()
	return htu.NewServer(tb, h).URL
}

// bodyAudit is a base that remembers every response body it hands out, so
// that a test can count the ones a client never closed (each holds a
// connection) and close them itself when it ends.
type bodyAudit struct {
	next   http.RoundTripper
	mu     sync.Mutex
	bodies []*auditedBody
}

type auditedBody struct {
	io.ReadCloser
	closed atomic.Bool
}

func (b *auditedBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}

// newBodyAudit returns an audit over a fresh base; at the test's end it
// closes what the client left open.
func newBodyAudit(tb testing.TB) *bodyAudit {
	a := &bodyAudit{next: newBase(tb)}
	tb.Cleanup(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, b := range a.bodies {
			if !b.closed.Load() {
				_ = b.ReadCloser.Close()
			}
		}
	})
	return a
}

func (a *bodyAudit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if resp != nil && resp.Body != nil {
		b := &auditedBody{ReadCloser: resp.Body}
		resp.Body = b
		a.mu.Lock()
		a.bodies = append(a.bodies, b)
		a.mu.Unlock()
	}
	return resp, err
}

// leftOpen returns how many bodies the client has not closed.
func (a *bodyAudit) leftOpen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, b := range a.bodies {
		if !b.closed.Load() {
			n++
		}
	}
	return n
}

// CloseIdleConnections closes the base's idle connections.
func (a *bodyAudit) CloseIdleConnections() {
	if c, ok := a.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
