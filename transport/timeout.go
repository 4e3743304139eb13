package transport

import (
	"context"
	"errors"
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
// errors.Is. kind is the sentinel it matches (ErrResponseTimeout or
// ErrBodyStalled; nil for the sentinels themselves), and err what the call
// below returned, when that says nothing of the timeout (nil for none).
type timeoutError struct {
	msg  string
	kind error
	err  error
}

// newTimeoutError returns the error of kind, for a bound of d, that one
// timeoutTransport gives every call it cuts.
func newTimeoutError(kind error, d time.Duration) *timeoutError {
	msg := kind.Error() + " (" + d.String() + ")"
	if kind == ErrBodyStalled {
		msg = kind.Error() + " for " + d.String()
	}
	return &timeoutError{msg: msg, kind: kind}
}

// wrapping returns e with err, what the call below returned, after it.
func (e *timeoutError) wrapping(err error) error {
	return &timeoutError{msg: e.msg, kind: e.kind, err: err}
}

func (e *timeoutError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *timeoutError) Unwrap() error   { return e.err }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
func (e *timeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded || e.kind != nil && target == e.kind
}

var (
	// ErrResponseTimeout is matched (errors.Is) by the error of a call
	// whose response headers did not arrive within ClientOptions.Timeout
	// (TimeoutOptions.Response). It reads "transport: no response within
	// the client's timeout (30s)", and then what the call below returned if
	// that does not say so already. It also matches
	// context.DeadlineExceeded, as net/http's own timeouts do, and is a
	// net.Error whose Timeout reports true; to tell it from the end of your
	// own context, see docs/timeouts.md.
	ErrResponseTimeout error = &timeoutError{msg: "transport: no response within the client's timeout"}
	// ErrBodyStalled is matched (errors.Is) by the error of a Read of a
	// response body that got no byte for ClientOptions.BodyStallTimeout
	// (TimeoutOptions.BodyStall). It reads "transport: response body
	// stalled for 30s". It also matches context.DeadlineExceeded, and is a
	// net.Error whose Timeout reports true.
	ErrBodyStalled error = &timeoutError{msg: "transport: response body stalled"}
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

// TimeoutOptions configures Timeouts. Its zero value means NewClient's
// timeouts: DefaultClientTimeout for a call's response to begin, and
// DefaultBodyStallTimeout for a Read of its body to get a byte.
type TimeoutOptions struct {
	// Response bounds a call until its response headers arrive, retries
	// and their waits included; a call that meets it fails with an error
	// that matches ErrResponseTimeout. It does not bound the response body,
	// which BodyStall watches instead. 0 means DefaultClientTimeout; a
	// negative value means none.
	Response time.Duration
	// BodyStall bounds how long a Read of a response body may wait without
	// a byte; such a Read fails with an error that matches ErrBodyStalled.
	// Time between Reads, which is the caller's, does not count. A stalled
	// Read is ended by cancelling the call's context when Response is set,
	// or else by closing the body, which net/http's transports allow while
	// a Read waits (a base of your own must too). 0 means
	// DefaultBodyStallTimeout; a negative value means none.
	BodyStall time.Duration
}

// Timeouts returns a middleware that bounds what can hang, as NewClient's
// chain does: a call until its response begins (o.Response, retries and
// their waits included), and each Read of its body while it waits without
// a byte (o.BodyStall). A slow download that keeps moving is never cut,
// where http.Client.Timeout would cut it. It is the layer that
// ClientOptions.Timeout and BodyStallTimeout configure, for a chain stacked
// with Chain: put it outside Retry and Hedge (first, or just inside
// Logging), so that its bound holds the whole call. Inside Retry it would
// bound each attempt, as RetryPolicy.PerTryTimeout does better.
//
// The caller's deadline and cancellation still end the call with the
// context's error, never with ErrResponseTimeout or ErrBodyStalled: the
// call's own context is derived from the caller's, which is never ended by
// this layer. The caller's request is never modified. With both fields
// negative, it adds nothing to the chain. It is safe for concurrent use.
func Timeouts(o TimeoutOptions) Middleware {
	response, stall := orNone(o.Response, DefaultClientTimeout), orNone(o.BodyStall, DefaultBodyStallTimeout)
	return func(next http.RoundTripper) http.RoundTripper {
		if response <= 0 && stall <= 0 {
			return next
		}
		t := &timeoutTransport{next: wrapped("Timeouts", next), response: response, stall: stall}
		if response > 0 {
			t.timedOut = newTimeoutError(ErrResponseTimeout, response)
		}
		if stall > 0 {
			t.stalled = newTimeoutError(ErrBodyStalled, stall)
		}
		return t
	}
}

// timeoutTransport bounds a call until its response headers arrive, and
// each Read of its body while it waits without a byte. Either being 0
// means no such bound; timedOut and stalled are the errors of each.
type timeoutTransport struct {
	next              http.RoundTripper
	response, stall   time.Duration
	timedOut, stalled *timeoutError
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
			resp.Body = newStallBody(resp.Body, t.stall, t.stalled, nil)
		}
		return resp, nil
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	ctx = context.WithValue(ctx, responseDeadlineKey{}, time.Now().Add(t.response))
	timer := time.AfterFunc(t.response, func() { cancel(t.timedOut) })
	resp, err := t.next.RoundTrip(req.WithContext(ctx)) // a shallow copy: the caller's request is untouched
	timer.Stop()
	if err != nil {
		cause := context.Cause(ctx)
		cancel(nil)
		if cause == t.timedOut && req.Context().Err() == nil {
			if errors.Is(err, ErrResponseTimeout) {
				return nil, err // it says so already: once is enough
			}
			return nil, t.timedOut.wrapping(err)
		}
		return nil, err
	}
	if resp.Body == http.NoBody {
		cancel(nil) // nothing left to read: the call is over
		return resp, nil
	}
	resp.Body = newStallBody(resp.Body, t.stall, t.stalled, cancel)
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *timeoutTransport) CloseIdleConnections() { closeIdle(t.next) }

// stallBody fails a Read that waits d without a byte, with stalled, and
// ends the call's context when it is closed. A stall ends the Read in
// flight by cancelling that context or, when the call has none of its own
// (cancel is nil), by closing the body below, which net/http's bodies allow
// while a Read waits (HTTP/1 closes the connection, HTTP/2 resets the
// stream).
type stallBody struct {
	rc      io.ReadCloser
	d       time.Duration // 0 for no bound
	err     error         // the error of a stall
	timer   *time.Timer   // nil until the first Read
	stalled atomic.Bool
	cancel  context.CancelCauseFunc // nil for none
}

func newStallBody(rc io.ReadCloser, d time.Duration, stalled error, cancel context.CancelCauseFunc) io.ReadCloser {
	if rc == nil {
		rc = http.NoBody
	}
	return &stallBody{rc: rc, d: d, err: stalled, cancel: cancel}
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.d <= 0 {
		return b.rc.Read(p)
	}
	if b.stalled.Load() {
		return 0, b.err
	}
	// Only a Read that waits counts: the caller's own time between Reads
	// is not the body's. The timer is made at the first Read, so that a
	// body closed unread costs none.
	if b.timer == nil {
		b.timer = time.AfterFunc(b.d, func() {
			b.stalled.Store(true)
			if b.cancel != nil {
				b.cancel(b.err) // unblocks the Read in flight
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
		// What the Read below says (the context's end, a closed body) is
		// the stall's doing: the stall is the cause, said once.
		return n, b.err
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

// orNone returns d, or def when d is 0, or 0 (none) when d is negative.
func orNone(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
