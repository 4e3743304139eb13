package transport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
)

// One attempt's lifecycle: the clone that is sent, its body, the send, and
// then either the discard of a failed response or the delivery of the
// outcome to the caller.

type attemptKey struct{}

// AttemptFromContext returns the number of the attempt that a middleware
// inside Retry is handling: 1 for the first attempt, 2 for the first retry.
// It returns 1 when there is no Retry outside.
func AttemptFromContext(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey{}).(int); ok {
		return n
	}
	return 1
}

var errNilResponse = errors.New("transport: RoundTripper returned a nil response and a nil error")

// attempt is the outcome of one attempt and what must be released with it.
type attempt struct {
	req     *http.Request // what was sent: the caller's request or a clone
	resp    *http.Response
	err     error
	notSent bool
	refused bool // an open circuit below refused it: it cost the server nothing
	local   bool // RateLimit rejected it locally (ErrRejectedLocally): not sent
	bodyErr bool // err comes from the caller's body: never retried
	// stream is the error event an event stream sent before its content
	// (see holdEvents); nil otherwise. The response is then whole, its
	// body the stream from its first byte.
	stream *StreamError
	call   *callOptions // the call's own settings (WithMaxRetries...); nil for none
}

func (a *attempt) public(n int) Attempt {
	return Attempt{Request: a.req, Number: n, Response: a.resp, Err: a.err, NotSent: a.notSent, StreamError: a.stream}
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

// sender sends a call's attempts: what an attempt needs of Retry, and what
// a resumed body needs to ask for the rest (resume.go).
type sender struct {
	next    http.RoundTripper
	below   entryTaker // next, when it takes the call's entry (see entryTaker)
	p       RetryPolicy
	budgets *budgets // nil when disabled
}

// try sends attempt n of req, whose context's options are call (callFrom)
// and whose host's entry is r (nil for none), to host ("" for the
// request's own) with rbody, the attempt's body that body (nil when there
// is nothing to replay) handed out, and sets a to its outcome. traced asks
// to learn whether a failed attempt reached the server. The first attempt
// is the caller's request as it is when nothing about it changes (no body
// to replay, no context of its own); otherwise, and for every retry, a
// clone is sent.
func (t *sender) try(a *attempt, req *http.Request, call *callOptions, r hostRef, rbody io.ReadCloser, body *bodyreplay.Body, host string, n int, traced bool) {
	ctx := req.Context()
	own := false // ctx is the attempt's own
	if n > 1 {
		ctx, own = context.WithValue(ctx, attemptKey{}, n), true // for AttemptFromContext
	}
	if d := call.perTryTimeout(t.p.PerTryTimeout); d > 0 || perTryFrom(ctx) > 0 {
		// For the clock at the bottom of the chain; 0 overrides an outer
		// Retry's. A call's own (WithPerTryTimeout) overrides the policy's.
		ctx, own = context.WithValue(ctx, perTryKey{}, d), true
	}
	var trace *sendTrace
	if traced {
		own = true
		trace = &sendTrace{}
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			GetConn:      func(string) { trace.getConn.Store(true) },
			WroteHeaders: func() { trace.wroteHeaders.Store(true) },
		})
	}
	if body != nil {
		bodyreplay.Bind(rbody, ctx) // a stalled caller's body cannot hold the attempt
	}
	*a = attempt{req: req, call: call}
	if own || rbody != req.Body || host != "" {
		a.req = req.Clone(ctx)
		a.req.Body = rbody
		if host != "" && !strings.EqualFold(host, req.URL.Host) {
			if req.Host == "" || req.Host == req.URL.Host {
				a.req.Host = "" // the Host header follows the new URL
			}
			a.req.URL.Host = host
		}
	}

	if host != "" {
		r = nil // another host's attempt: the layers below look it up
	}
	a.resp, a.err = passDown(t.next, t.below, a.req, r)

	switch {
	case a.resp != nil && a.err != nil:
		// Against the RoundTripper contract; net/http drops such a response.
		closeBody(a.resp)
		a.resp = nil
	case a.resp == nil && a.err == nil:
		a.err = errNilResponse
	}
	if trace != nil && a.err != nil {
		a.notSent = trace.notSent() || isRefusedStream(a.err)
	}
	if a.err != nil && errors.Is(a.err, ErrCircuitOpen) {
		a.notSent, a.refused = true, true
	}
	if a.err != nil && errors.Is(a.err, ErrRejectedLocally) {
		a.notSent, a.local = true, true
	}
	if a.err != nil && body != nil && body.Err() != nil {
		a.err, a.bodyErr = body.Err(), true
	}
}

// discard drains and closes a failed attempt's response, bounded by limit
// bytes (none if negative) and timeout, so that its connection can go back
// to the pool.
func (a *attempt) discard(limit int64, timeout time.Duration) {
	if a.resp == nil || a.resp.Body == nil {
		return
	}
	body := a.resp.Body
	if limit > 0 && timeout > 0 {
		// net/http's bodies may be closed while a Read is blocked; the
		// Read then returns at once.
		timer := time.AfterFunc(timeout, func() { _ = body.Close() })
		// One byte past the limit, to see the EOF that returns the
		// connection to the pool when the body fits.
		_, _ = io.Copy(io.Discard, io.LimitReader(body, limit+1))
		timer.Stop()
	}
	_ = body.Close()
}

// deliver returns the attempt's outcome to the caller: the response, or the
// error wrapped with the attempt count. ctx is the call's.
func (a *attempt) deliver(ctx context.Context, n int) (*http.Response, error) {
	if a.resp == nil {
		err, ended := endedBy(ctx, a.err)
		return nil, &RetryError{Attempts: n, Err: err, ended: ended}
	}
	return a.resp, nil
}

// endedBy reports whether the call's context ended the call that ended on
// err, and returns err as the caller should see it: when Timeouts ended the
// context, its error in place of the context's bare one (as HTTP/2 and a
// wait return it), so that the call says which bound it met. A deadline
// that has passed counts as ended before the context says so:
// http.Client.Timeout cancels the request (Request.Cancel) on a timer of
// its own at the same moment.
func endedBy(ctx context.Context, err error) (error, bool) {
	cerr := ctx.Err()
	if cerr == nil {
		deadline, ok := ctx.Deadline()
		return err, ok && !time.Now().Before(deadline)
	}
	if te, ok := context.Cause(ctx).(*timeoutError); ok && err == cerr {
		return te, true
	}
	return err, true
}
