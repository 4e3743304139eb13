package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
)

// The chain's plumbing, at the bottom of the package: Middleware, Chain
// and what every layer uses to find the transport below it and to pass
// CloseIdleConnections down; and the per-try clock that Chain puts just
// above the base. It names no layer.

// Middleware wraps an http.RoundTripper with one concern (retries, logging,
// headers, ...). It is called once, when the chain is built; whatever it
// prepares there is shared by every request that goes through it.
type Middleware func(http.RoundTripper) http.RoundTripper

// RoundTripperFunc adapts an ordinary function to the http.RoundTripper
// interface. It is handy for tests and for small one-off middleware.
type RoundTripperFunc func(*http.Request) (*http.Response, error)

var _ http.RoundTripper = RoundTripperFunc(nil)

// RoundTrip calls f(req).
func (f RoundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) {
	return f(req)
}

// Chain wraps base with mws and returns the result. The first middleware is
// the outermost: it sees each call first and its response last. A nil base
// means a fresh DefaultPooledTransport(). Just above base, Chain puts the
// clock of RetryPolicy.PerTryTimeout, so that it measures time on the
// network only; a request that no Retry gave a per-try timeout passes it
// untouched. Chain panics if any middleware is nil, or returns a nil
// RoundTripper, so that a mistake is found when the client is built rather
// than on its first request.
func Chain(base http.RoundTripper, mws ...Middleware) http.RoundTripper {
	if base == nil {
		base = DefaultPooledTransport()
	}
	if len(mws) == 0 {
		return base
	}
	var rt http.RoundTripper = &perTryTransport{next: base}
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] == nil {
			panic("transport: Chain: nil Middleware")
		}
		rt = mws[i](link{rt})
		if rt == nil {
			panic("transport: Chain: Middleware returned a nil RoundTripper")
		}
	}
	return unlink(rt)
}

// link is what Chain hands each middleware: the chain below it, marked as
// built by Chain, and so with the per-try clock at its bottom. rtchain's
// own middlewares take the RoundTripper out of it when they are built
// (wrapped); another middleware keeps it, at the cost of one call.
type link struct{ http.RoundTripper }

// CloseIdleConnections closes the idle connections of the chain below.
func (l link) CloseIdleConnections() { closeIdle(l.RoundTripper) }

func unlink(rt http.RoundTripper) http.RoundTripper {
	for {
		l, ok := rt.(link)
		if !ok {
			return rt
		}
		rt = l.RoundTripper
	}
}

// wrapped returns the RoundTripper that the middleware called name wraps,
// out of Chain's link, and panics if there is none.
func wrapped(name string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		panic("transport: " + name + ": nil RoundTripper")
	}
	return unlink(next)
}

// closeIdle forwards CloseIdleConnections to rt when it has the method, as
// http.Client.CloseIdleConnections does, so that the call reaches the base
// through every layer of a chain.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// The per-try timeout is a layer of its own at the bottom of the chain:
// Retry puts RetryPolicy.PerTryTimeout in each attempt's context, and the
// layer that Chain puts just above the base starts the clock when the
// attempt gets there. (A Retry built outside Chain has no such layer below
// it, and puts one just inside itself.) So the clock measures the attempt's time on the
// network only, never its waits in the layers above (RateLimit), and an
// attempt it cuts comes back up the chain as an error from below, which a
// Breaker counts like any other timeout of the transport.

// ErrPerTryTimeout is matched (errors.Is) by the error of an attempt that
// RetryPolicy.PerTryTimeout cut short. So is context.DeadlineExceeded, as
// by net/http's own timeouts: whether your own deadline passed is told by
// your context's Err, which this timeout never sets (see docs/timeouts.md).
var ErrPerTryTimeout = errors.New("transport: per-try timeout")

type perTryTimeoutError struct{ d time.Duration }

func (e *perTryTimeoutError) Error() string {
	return fmt.Sprintf("transport: attempt timed out after %v (PerTryTimeout)", e.d)
}

// Timeout reports true, so that net.Error and os.IsTimeout see a timeout.
func (e *perTryTimeoutError) Timeout() bool { return true }

func (e *perTryTimeoutError) Is(target error) bool {
	return target == ErrPerTryTimeout || target == context.DeadlineExceeded
}

type perTryKey struct{}

func perTryFrom(ctx context.Context) time.Duration {
	d, _ := ctx.Value(perTryKey{}).(time.Duration)
	return d
}

// perTryTransport runs the per-try clock around the transport below it.
// last says to take the timeout out of the attempt's context, for a clock
// that is not at the bottom of its chain.
type perTryTransport struct {
	next http.RoundTripper
	last bool
}

var _ http.RoundTripper = (*perTryTransport)(nil)

func (t *perTryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	d := perTryFrom(req.Context())
	if d <= 0 {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	if t.last {
		ctx = context.WithValue(ctx, perTryKey{}, time.Duration(0))
	}
	timeout := &perTryTimeoutError{d}
	timer := time.AfterFunc(d, func() { cancel(timeout) })
	r := req.WithContext(ctx)
	bodyreplay.Bind(r.Body, ctx) // a stalled caller's body cannot outlast the clock
	resp, err := t.next.RoundTrip(r)
	switch {
	case !timer.Stop():
		// The clock ran out: whatever came back is cut or about to be.
		closeBody(resp)
		cancel(nil)
		return nil, timeout
	case resp == nil || err != nil:
		cancel(nil)
		return resp, err
	case resp.Body == nil:
		cancel(nil)
		return resp, nil
	}
	// The body stays readable after the headers, under the caller's
	// context alone, until the caller closes it.
	resp.Body = onClose(resp.Body, func() { cancel(nil) })
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *perTryTransport) CloseIdleConnections() { closeIdle(t.next) }

// onClose returns body with a Close that also runs hook, once, however
// often it is called. A body that can be written to (101 Switching
// Protocols) stays writable.
func onClose(body io.ReadCloser, hook func()) io.ReadCloser {
	hb := &hookBody{ReadCloser: body, hook: hook}
	if w, ok := body.(io.Writer); ok {
		return hookReadWriteBody{hb, w}
	}
	return hb
}

type hookBody struct {
	io.ReadCloser
	hook func()
	done atomic.Bool
}

func (b *hookBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done.CompareAndSwap(false, true) {
		b.hook()
	}
	return err
}

type hookReadWriteBody struct {
	*hookBody
	w io.Writer
}

func (b hookReadWriteBody) Write(p []byte) (int, error) { return b.w.Write(p) }
