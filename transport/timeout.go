package transport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// NewClient's timeouts bound what can hang, not what takes long: a call
// until its response begins (retries and their waits included), and a
// response body while it stops moving. A 10 MiB download at 320 KB/s takes
// 33 s and succeeds; a body that sends nothing for DefaultBodyStallTimeout
// fails. http.Client.Timeout, which NewClient leaves at 0, would cut both
// at the same moment.

// Defaults of ClientOptions.Timeout and ClientOptions.BodyStallTimeout.
const (
	// DefaultClientTimeout bounds a call of NewClient's client until its
	// response headers arrive, retries and waits included.
	DefaultClientTimeout = 30 * time.Second
	// DefaultBodyStallTimeout bounds how long a Read of a response body
	// of NewClient's client may wait without a byte.
	DefaultBodyStallTimeout = 30 * time.Second
)

// timeoutError is a timeout of the client's own, as net/http's are: a
// net.Error whose Timeout reports true, and context.DeadlineExceeded under
// errors.Is.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Temporary() bool      { return true }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

var (
	// ErrResponseTimeout is in the error of a call whose response headers
	// did not arrive within ClientOptions.Timeout. It matches
	// context.DeadlineExceeded under errors.Is, and is a net.Error whose
	// Timeout reports true.
	ErrResponseTimeout error = &timeoutError{"transport: no response within the client's timeout"}
	// ErrBodyStalled is in the error of a Read of a response body that got
	// no byte for ClientOptions.BodyStallTimeout. It matches
	// context.DeadlineExceeded under errors.Is, and is a net.Error whose
	// Timeout reports true.
	ErrBodyStalled error = &timeoutError{"transport: response body stalled"}
)

type responseDeadlineKey struct{}

// responseDeadline returns when the call's response must have begun: the
// earlier of ctx's deadline and the one a client timeout set, so that waits
// inside the call end in time for either.
func responseDeadline(ctx context.Context) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	if d, has := ctx.Value(responseDeadlineKey{}).(time.Time); has && (!ok || d.Before(deadline)) {
		return d, true
	}
	return deadline, ok
}

// timeoutTransport bounds a call until its response headers arrive, and
// each Read of its body while it waits without a byte. Either being 0
// means no such bound.
type timeoutTransport struct {
	next            http.RoundTripper
	response, stall time.Duration
}

var _ http.RoundTripper = (*timeoutTransport)(nil)

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.response <= 0 {
		// The stall bound alone needs no context of the call's own: a
		// stalled Read is ended by closing the body (see stallBody), so the
		// request goes on as it is, and the call costs one allocation.
		resp, err := t.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if resp.Body != http.NoBody { // net/http's for a response without content: nothing can stall
			resp.Body = newStallBody(resp.Body, t.stall, nil)
		}
		return resp, nil
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	var timer *time.Timer
	if t.response > 0 {
		ctx = context.WithValue(ctx, responseDeadlineKey{}, time.Now().Add(t.response))
		timer = time.AfterFunc(t.response, func() { cancel(ErrResponseTimeout) })
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx)) // a shallow copy: the caller's request is untouched
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		cause := context.Cause(ctx)
		cancel(nil)
		if cause == ErrResponseTimeout && req.Context().Err() == nil {
			return nil, fmt.Errorf("%w (%v): %w", ErrResponseTimeout, t.response, err)
		}
		return nil, err
	}
	if resp.Body == http.NoBody {
		cancel(nil) // nothing left to read: the call is over
		return resp, nil
	}
	resp.Body = newStallBody(resp.Body, t.stall, cancel)
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *timeoutTransport) CloseIdleConnections() { closeIdle(t.next) }

// stallBody fails a Read that waits d without a byte, and ends the call's
// context when it is closed. A stall ends the Read in flight by cancelling
// that context or, when the call has none of its own (cancel is nil), by
// closing the body below, which net/http's bodies allow while a Read
// waits (HTTP/1 closes the connection, HTTP/2 resets the stream).
type stallBody struct {
	rc      io.ReadCloser
	d       time.Duration // 0 for no bound
	timer   *time.Timer   // nil until the first Read
	stalled atomic.Bool
	cancel  context.CancelCauseFunc // nil for none
}

func newStallBody(rc io.ReadCloser, d time.Duration, cancel context.CancelCauseFunc) io.ReadCloser {
	if rc == nil {
		rc = http.NoBody
	}
	return &stallBody{rc: rc, d: d, cancel: cancel}
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.d <= 0 {
		return b.rc.Read(p)
	}
	if b.stalled.Load() {
		return 0, fmt.Errorf("%w for %v", ErrBodyStalled, b.d)
	}
	// Only a Read that waits counts: the caller's own time between Reads
	// is not the body's. The timer is made at the first Read, so that a
	// body closed unread costs none.
	if b.timer == nil {
		b.timer = time.AfterFunc(b.d, func() {
			b.stalled.Store(true)
			if b.cancel != nil {
				b.cancel(ErrBodyStalled) // unblocks the Read in flight
			} else {
				_ = b.rc.Close() // so does this
			}
		})
	} else {
		b.timer.Reset(b.d)
	}
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && b.stalled.Load() {
		return n, fmt.Errorf("%w for %v: %w", ErrBodyStalled, b.d, err)
	}
	return n, err
}

func (b *stallBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	if b.cancel != nil {
		b.cancel(nil)
	}
	return err
}
