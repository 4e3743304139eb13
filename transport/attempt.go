package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
)

// ErrPerTryTimeout is matched (errors.Is) by the error of an attempt that
// RetryPolicy.PerTryTimeout cut short. So is context.DeadlineExceeded.
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

var errNilResponse = errors.New("transport: RoundTripper returned a nil response and a nil error")

// attempt is the outcome of one attempt and what must be released with it.
type attempt struct {
	req     *http.Request // what was sent: the caller's request or a clone
	resp    *http.Response
	err     error
	cancel  context.CancelFunc // releases the attempt's context; nil if it has none
	notSent bool
	refused bool // an open circuit below refused it: it cost the server nothing
	bodyErr bool // err comes from the caller's body: never retried
}

// sendTrace records, through httptrace, whether a request may have reached
// the server. Its hooks run on the transport's goroutines.
type sendTrace struct {
	getConn      atomic.Bool
	wroteHeaders atomic.Bool
}

// notSent reports that the transport asked for a connection (so it honours
// the trace) but never finished writing the request headers: no server can
// have acted on the request.
func (s *sendTrace) notSent() bool {
	return s.getConn.Load() && !s.wroteHeaders.Load()
}

// try sends attempt n to host ("" for the request's own) with rbody, the
// attempt's body that body (nil when there is nothing to replay) handed out.
// The first attempt is the caller's request as it is when nothing about it
// changes (no body to replay, no context of its own); otherwise, and for
// every retry, a clone is sent.
func (t *retryTransport) try(req *http.Request, rbody io.ReadCloser, body *bodyreplay.Body, host string, n int, traced bool) attempt {
	ctx := req.Context()
	if n > 1 {
		ctx = context.WithValue(ctx, attemptKey, n) // for AttemptFromContext
	}
	var a attempt
	var timer *tryTimer
	var trace *sendTrace
	if t.p.PerTryTimeout > 0 || traced {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		a.cancel = func() { cancel(nil) }
		if t.p.PerTryTimeout > 0 {
			// The cause tells the layers below (Breaker) that the attempt
			// timed out, not that its caller gave up.
			timeout := &perTryTimeoutError{t.p.PerTryTimeout}
			timer = startTryTimer(t.p.PerTryTimeout, func() { cancel(timeout) })
			ctx = context.WithValue(ctx, tryTimerKey{}, timer)
		}
		if traced {
			trace = &sendTrace{}
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				GetConn:      func(string) { trace.getConn.Store(true) },
				WroteHeaders: func() { trace.wroteHeaders.Store(true) },
			})
		}
	}
	if body != nil {
		bodyreplay.Bind(rbody, ctx) // a stalled caller's body cannot hold the attempt
	}
	a.req = req
	if ctx != req.Context() || rbody != req.Body || host != "" {
		a.req = req.Clone(ctx)
		a.req.Body = rbody
		if host != "" && !strings.EqualFold(host, req.URL.Host) {
			if req.Host == "" || req.Host == req.URL.Host {
				a.req.Host = "" // the Host header follows the new URL
			}
			a.req.URL.Host = host
		}
	}

	a.resp, a.err = t.next.RoundTrip(a.req)

	switch {
	case a.resp != nil && a.err != nil:
		// Against the RoundTripper contract; net/http drops such a response.
		closeBody(a.resp)
		a.resp = nil
	case a.resp == nil && a.err == nil:
		a.err = errNilResponse
	}
	if timer != nil && timer.stop() {
		// The timer fired: whatever came back is cut or about to be.
		closeBody(a.resp)
		a.resp, a.err = nil, &perTryTimeoutError{t.p.PerTryTimeout}
	}
	if trace != nil && a.err != nil {
		a.notSent = trace.notSent() || isRefusedStream(a.err)
	}
	if a.err != nil && errors.Is(a.err, ErrCircuitOpen) {
		a.notSent, a.refused = true, true
	}
	if a.err != nil && body != nil && body.Err() != nil {
		a.err, a.bodyErr = body.Err(), true
	}
	return a
}

func closeBody(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
}

// discard drains and closes a failed attempt's response, bounded by limit
// bytes (none if negative) and timeout, so that its connection can go back
// to the pool, then releases the attempt's context.
func (a *attempt) discard(limit int64, timeout time.Duration) {
	if a.resp != nil && a.resp.Body != nil {
		body := a.resp.Body
		if limit > 0 && timeout > 0 {
			stop := a.cancel
			if stop == nil {
				// net/http's bodies may be closed while a Read is blocked;
				// the Read then returns at once.
				stop = func() { _ = body.Close() }
			}
			timer := time.AfterFunc(timeout, stop)
			// One byte past the limit, to see the EOF that returns the
			// connection to the pool when the body fits.
			_, _ = io.Copy(io.Discard, io.LimitReader(body, limit+1))
			timer.Stop()
		}
		_ = body.Close()
	}
	if a.cancel != nil {
		a.cancel()
	}
}

// deliver returns the attempt's outcome to the caller: the response, whose
// body now releases the attempt's context when closed, or the error wrapped
// with the attempt count.
func (a *attempt) deliver(n int) (*http.Response, error) {
	if a.resp == nil {
		if a.cancel != nil {
			a.cancel()
		}
		return nil, &RetryError{Attempts: n, Err: a.err}
	}
	if a.cancel != nil {
		switch body := a.resp.Body.(type) {
		case nil:
			a.cancel()
		case io.ReadWriteCloser: // 101 Switching Protocols: keep it writable
			a.resp.Body = &cancelReadWriteBody{body, a.cancel}
		default:
			a.resp.Body = &cancelBody{body, a.cancel}
		}
	}
	return a.resp, nil
}

// cancelBody releases an attempt's context when the caller closes the body,
// so that the body stays readable after RoundTrip returns.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

type cancelReadWriteBody struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (b *cancelReadWriteBody) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel()
	return err
}

// RetryError is the error Retry returns when a call ends on an error: the
// last attempt's error, with how many attempts were made. errors.Is and
// errors.As reach the cause through Unwrap.
type RetryError struct {
	// Attempts is how many attempts were sent (1 when none was retried).
	Attempts int
	// Err is the last attempt's error, or the context's error when the
	// call's context ended during a wait.
	Err error
}

// Error says how many attempts were made and what the last one ended with.
func (e *RetryError) Error() string {
	if e.Attempts == 1 {
		return "transport: after 1 attempt: " + e.Err.Error()
	}
	return fmt.Sprintf("transport: after %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *RetryError) Unwrap() error { return e.Err }

// Timeout reports whether the cause is a timeout, so that url.Error.Timeout
// and os.IsTimeout, which do not unwrap, still see one.
func (e *RetryError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}
