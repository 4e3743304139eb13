package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// What is worth retrying: the types a policy judges an attempt with
// (Attempt, Decision, Classifier), and the rules of Retry, each a small
// exported function (decide.go combines them with a Classifier).

// Attempt is the outcome of one attempt, as a Classifier, a Trace or
// OnRetry sees it. Exactly one of Response and Err is set.
type Attempt struct {
	// Request is the request this attempt sent. Do not modify it.
	Request *http.Request
	// Number is 1 for the first attempt, 2 for the first retry, and so on.
	Number int
	// Response is the attempt's response. Do not read or close its body.
	Response *http.Response
	// Err is the attempt's transport error.
	Err error
	// NotSent reports that the request provably never reached the server:
	// no connection was had, the request headers were never completely
	// written, or an HTTP/2 server refused the stream. Only known for
	// requests that are not idempotent; false when unknown.
	NotSent bool
	// StreamError, for a 200 response of an event stream
	// (text/event-stream), is the error event the server sent before any
	// content (see RetryPolicy.EventStream): the attempt failed although its
	// status says otherwise. nil for any other attempt.
	StreamError *StreamError
}

// reason is the attempt's status, or its error.
func (a Attempt) reason() string {
	if a.Response != nil && a.StreamError != nil {
		return a.Response.Status + ", then " + a.StreamError.Type + " before any content"
	}
	if a.Response != nil {
		return a.Response.Status
	}
	if a.Err != nil {
		return a.Err.Error()
	}
	return ""
}

// Decision is a Classifier's verdict on an attempt: Default (the built-in
// rules of Retry decide), RetryAttempt (retry it, if MaxRetries, the
// deadline, the budget and the body allow) or StopRetrying (return its
// outcome to the caller now).
type Decision int

const (
	// Default applies the built-in rules (see Retry).
	Default Decision = iota
	// RetryAttempt retries the attempt, if the limits allow.
	RetryAttempt
	// StopRetrying returns the attempt's outcome to the caller.
	StopRetrying
)

// Classifier overrides the built-in retry rules for some attempts. It returns
// Default for the attempts it has no opinion on. It must be safe for
// concurrent use.
type Classifier func(Attempt) Decision

// StatusOverloaded is 529, the status Anthropic's API answers when it is
// overloaded and turned the request down before acting on it.
const StatusOverloaded = 529

// IsRefusal reports whether a response with this status says that the
// server declined to process the request, so that sending it again cannot
// repeat an effect, whatever its method: 429 Too Many Requests (RFC 6585
// §4), 503 Service Unavailable (RFC 9110 §15.6.4) and 529, Anthropic's
// "overloaded" (its documentation: the request was turned down because the
// API is busy). Retry retries refusals for every method.
//
// A gateway that answers 503 for an upstream that failed after it received
// the request (Envoy's "upstream connect error or disconnect/reset before
// headers") breaks that promise; a Classifier, or the server's
// x-should-retry: false, keeps such a call from being sent again.
func IsRefusal(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, StatusOverloaded:
		return true
	}
	return false
}

// ServerSaysRetry reads the x-should-retry header that the OpenAI and
// Anthropic APIs send: "true" (retry is true) says the answer is worth
// another try whatever its status and method (Retry still never sends a
// call again that was answered with a success, 2xx: the effect happened);
// "false" says it is not.
// said is false when the header is absent or holds anything else, and the
// status decides.
func ServerSaysRetry(h http.Header) (retry, said bool) {
	v, ok := h["X-Should-Retry"]
	if !ok || len(v) == 0 {
		return false, false
	}
	switch strings.TrimSpace(v[0]) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// IsIdempotent reports whether method is idempotent under RFC 9110 §9.2.2
// (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), and so safe to send twice.
func IsIdempotent(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// HasIdempotencyKey reports whether h carries an Idempotency-Key or
// X-Idempotency-Key header, which makes any method safe to retry (net/http's
// own transport honours the same two names).
func HasIdempotencyKey(h http.Header) bool {
	// A present but nil slice is net/http's way of marking a request as
	// replayable without sending a key, so presence is what counts.
	if _, ok := h["Idempotency-Key"]; ok {
		return true
	}
	_, ok := h["X-Idempotency-Key"]
	return ok
}

// IsRetryableStatus reports whether a response with this status is worth
// retrying: 408, 429, 500, 502, 503, 504 and 529. 501 and 505 are
// permanent. Of these, only refusals (IsRefusal) are retried for a method
// that is not idempotent and carries no Idempotency-Key.
func IsRetryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, StatusOverloaded:
		return true
	}
	return false
}

// IsTransientError reports whether err, returned by a RoundTripper, is worth
// retrying: a timeout of the transport (dial, TLS handshake, response
// headers, the per-try timeout), a refused or reset connection, a connection
// that ended before the response (EOF, or net/http's "server closed idle
// connection"), an HTTP/2 stream the server refused, failed or cancelled, a
// GOAWAY. A context's own error (context.Canceled or
// context.DeadlineExceeded itself, however wrapped: a caller that gave up),
// TLS certificate errors and errors in the request itself (bad URL,
// unsupported scheme) are not. Unknown errors are not retried: a Classifier
// can widen the rule.
//
// net and net/http make their timeout errors match context.DeadlineExceeded
// under errors.Is; they are timeouts of the transport, not of the caller, and
// are transient. Retry tells the two apart by the caller's context itself.
func IsTransientError(err error) bool {
	if err == nil || (!errors.Is(err, ErrPerTryTimeout) && isContextError(err)) {
		return false
	}
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		alertErr   tls.AlertError
		recordErr  tls.RecordHeaderError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &alertErr) || errors.As(err, &recordErr) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, ErrPerTryTimeout) {
		return true
	}
	if isServerClosedIdle(err) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) || isHTTP2Transient(err)
}

// serverClosedIdle is the message of net/http's unexported
// errServerClosedIdle: the server closed a connection before the request's
// response began, as a proxy with no live instance behind it does.
// net/http retries it itself only on a reused connection.
const serverClosedIdle = "http: server closed idle connection"

// isServerClosedIdle reports whether err is, or wraps, net/http's
// errServerClosedIdle, known by its message: it has no exported identity.
func isServerClosedIdle(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == serverClosedIdle {
			return true
		}
	}
	return false
}

// isContextError reports whether err is, or wraps, one of the context
// package's own errors: the error of a context that ended. It compares
// identities, not errors.Is, because net's and net/http's timeouts claim to
// be context.DeadlineExceeded while being the transport's own.
func isContextError(err error) bool {
	switch err {
	case context.Canceled, context.DeadlineExceeded:
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			return isContextError(e)
		}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if isContextError(e) {
				return true
			}
		}
	}
	return false
}

// net/http does not export its HTTP/2 error types, so they are recognised by
// type name and by the reset code in their message.

// http2TransientCodes are the stream reset codes worth a retry: the server
// refused the stream or failed or cancelled it, or asked the client to slow
// down. Protocol, flow-control and framing errors are not transient.
var http2TransientCodes = []string{"REFUSED_STREAM", "INTERNAL_ERROR", "CANCEL", "ENHANCE_YOUR_CALM"}

// isHTTP2Transient reports whether err is an HTTP/2 failure worth a retry: a
// stream reset with a transient code, a GOAWAY, or a lost connection.
func isHTTP2Transient(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch fmt.Sprintf("%T", e) {
		case "http.http2StreamError":
			msg := e.Error()
			for _, code := range http2TransientCodes {
				if strings.Contains(msg, "; "+code) {
					return true
				}
			}
			return false
		case "http.http2GoAwayError":
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "http2: client connection lost") ||
		strings.Contains(msg, "http2: client conn is closed") ||
		strings.Contains(msg, "http2: Transport received Server's graceful shutdown GOAWAY")
}

// isRefusedStream reports whether the server reset the stream with
// REFUSED_STREAM, which RFC 9113 §8.7 guarantees means it did not process
// the request: any method may then be retried.
func isRefusedStream(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if fmt.Sprintf("%T", e) == "http.http2StreamError" {
			return strings.Contains(e.Error(), "; REFUSED_STREAM")
		}
	}
	return false
}
