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
	"time"
)

// Defaults applied by Retry to the zero fields of a RetryPolicy.
const (
	DefaultMaxRetries      = 3
	DefaultBaseDelay       = 100 * time.Millisecond
	DefaultMaxDelay        = 5 * time.Second
	DefaultMaxRetryAfter   = 30 * time.Second
	DefaultBodyReplayLimit = 1 << 20   // 1 MiB
	DefaultBodySpillLimit  = 256 << 20 // 256 MiB
	DefaultDrainLimit      = 4 << 10   // 4 KiB
	DefaultDrainTimeout    = 500 * time.Millisecond
)

// RetryPolicy configures Retry. Its zero value means the documented defaults:
// 3 retries, full-jitter backoff from 100ms capped at 5s, Retry-After honoured
// up to 30s, no per-try timeout, streamed bodies replayed up to 1 MiB from
// memory and 256 MiB more from a temporary file, failed bodies drained up to
// 4 KiB or 500ms.
//
// A policy is copied by Retry; changing it afterwards has no effect.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt.
	// 0 means DefaultMaxRetries; a negative value disables retries.
	// Retries of a 429 whose Retry-After asks for a second or more do not
	// count: the server is throttling, not failing, and said when to come
	// back. Their waits add up to MaxRetryAfter at most in one call.
	MaxRetries int

	// BaseDelay scales the backoff: retry k waits a random duration in
	// [0, min(MaxDelay, BaseDelay·2^(k-1))). 0 means DefaultBaseDelay.
	BaseDelay time.Duration

	// MaxDelay caps one backoff wait. 0 means DefaultMaxDelay.
	MaxDelay time.Duration

	// Backoff, when set, replaces the full-jitter backoff: it returns the
	// wait before the retry that follows the attempt. Its result is capped
	// at MaxDelay (a negative one means no wait). A Retry-After still
	// replaces it, and the deadline still holds. It must be safe for
	// concurrent use.
	Backoff func(Attempt) time.Duration

	// MaxRetryAfter is the longest Retry-After the server may ask for. A
	// longer one ends the retries at once and the response is returned as it
	// came. 0 means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration

	// PerTryTimeout bounds one attempt until its response headers arrive; a
	// hung attempt is cut and counts as a transient error. The body of the
	// response that is returned is not bound by it. 0 means no per-try timeout.
	PerTryTimeout time.Duration

	// Classifier, when set, is asked about every attempt before the built-in
	// rules and may force or forbid a retry (see Decision). The limits still
	// hold whatever it says: MaxRetries, MaxRetryAfter, the context's
	// deadline, and a body that cannot be replayed.
	Classifier Classifier

	// Check is a Classifier that can also end the call with an error: when
	// it returns one, the attempt's response (if any) is drained and
	// closed, and the call returns the error (in a *RetryError), as
	// go-retryablehttp's CheckRetry does. Otherwise its Decision counts as
	// a Classifier's. It is asked before Classifier. It must be safe for
	// concurrent use.
	Check func(Attempt) (Decision, error)

	// OnRetry, when set, is called before each wait for a retry, on the
	// goroutine of the call. It must not read the response body.
	OnRetry func(RetryEvent)

	// OnGiveUp, when set, is called when an attempt that could have been
	// retried is not, because a limit stopped it (see GiveUpEvent), on the
	// goroutine of the call. It must not read the response body.
	OnGiveUp func(GiveUpEvent)

	// Budget bounds retries to a share of calls, per host (see RetryBudget).
	// It is on by default.
	Budget RetryBudget

	// Hosts, when set, lists equivalent instances of the service, as
	// host or host:port: each retry goes to the next one after the host the
	// previous attempt went to (the caller's request is not modified; the
	// attempt's clone is). An open circuit is then retried on the next host.
	Hosts []string

	// BodyReplayLimit is how many bytes of a request body without GetBody
	// (and that is not an io.Seeker) are kept in memory so that a retry can
	// send them again. 0 means DefaultBodyReplayLimit; a negative value
	// keeps nothing (such bodies are sent once and never retried).
	BodyReplayLimit int64

	// BodySpillLimit is how many more bytes of such a body, past
	// BodyReplayLimit, are kept in a temporary file, so that a large
	// upload from a plain io.Reader can be retried in bounded memory. The
	// file is made only for a body that passes BodyReplayLimit, is
	// unlinked as soon as it is made where the system allows it, and is
	// closed when the call and its last attempt are done. A body longer
	// than both limits together is sent once and not retried; if the file
	// cannot be written (a full disk), the call goes on without a retry.
	// 0 means DefaultBodySpillLimit; a negative value keeps nothing on
	// disk. A request that is retried only if it never reached the server
	// (a POST without an Idempotency-Key) keeps 4 KiB at most, in memory.
	BodySpillLimit int64

	// BodySpillDir is the directory of those files; "" means os.TempDir().
	BodySpillDir string

	// DrainLimit is how many bytes of a failed response body are read
	// before the next attempt, so that its connection can be reused.
	// 0 means DefaultDrainLimit; a negative value closes without reading.
	DrainLimit int64

	// DrainTimeout bounds the time spent draining one failed response body.
	// 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// withDefaults returns p with its zero fields set to the defaults. It panics
// on a negative duration, which is always a mistake.
func (p RetryPolicy) withDefaults() RetryPolicy {
	for name, d := range map[string]time.Duration{
		"BaseDelay": p.BaseDelay, "MaxDelay": p.MaxDelay, "MaxRetryAfter": p.MaxRetryAfter,
		"PerTryTimeout": p.PerTryTimeout, "DrainTimeout": p.DrainTimeout,
	} {
		if d < 0 {
			panic(fmt.Sprintf("transport: RetryPolicy.%s is negative (%v)", name, d))
		}
	}
	switch {
	case p.MaxRetries == 0:
		p.MaxRetries = DefaultMaxRetries
	case p.MaxRetries < 0:
		p.MaxRetries = 0
	}
	p.BaseDelay = orDefault(p.BaseDelay, DefaultBaseDelay)
	p.MaxDelay = orDefault(p.MaxDelay, DefaultMaxDelay)
	p.MaxRetryAfter = orDefault(p.MaxRetryAfter, DefaultMaxRetryAfter)
	p.DrainTimeout = orDefault(p.DrainTimeout, DefaultDrainTimeout)
	p.BodyReplayLimit = orDefault(p.BodyReplayLimit, DefaultBodyReplayLimit)
	p.BodySpillLimit = orDefault(p.BodySpillLimit, DefaultBodySpillLimit)
	p.DrainLimit = orDefault(p.DrainLimit, DefaultDrainLimit)
	if !p.Budget.Disabled {
		p.Budget = p.Budget.withDefaults()
	}
	for _, h := range p.Hosts {
		if h == "" || strings.ContainsAny(h, "/?#@") {
			panic(fmt.Sprintf("transport: RetryPolicy.Hosts: %q is not a host or host:port", h))
		}
	}
	return p
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Attempt is the outcome of one attempt, as a Classifier or OnRetry sees it.
// Exactly one of Response and Err is set.
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
	// written, or an HTTP/2 server refused the stream. Only known for requests that are not idempotent; false when
	// unknown.
	NotSent bool
}

// Decision is a Classifier's verdict on an attempt.
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

// RetryEvent describes a retry about to happen, for RetryPolicy.OnRetry.
type RetryEvent struct {
	// Attempt is the attempt that failed and is about to be retried.
	Attempt Attempt
	// Wait is how long Retry waits before the next attempt.
	Wait time.Duration
	// FromRetryAfter reports whether Wait is the server's Retry-After
	// rather than the backoff.
	FromRetryAfter bool
}

// Why a retryable attempt was not retried, in GiveUpEvent.Reason.
const (
	GiveUpMaxRetries    = "MaxRetries reached"
	GiveUpBudget        = "retry budget exhausted"
	GiveUpRetryAfter    = "Retry-After above MaxRetryAfter"
	GiveUpDeadline      = "wait would end after the deadline"
	GiveUpNotReplayable = "request body cannot be replayed"
	GiveUpThrottled     = "throttled for longer than MaxRetryAfter"
)

// GiveUpEvent describes a retryable attempt that a limit kept from being
// retried, for RetryPolicy.OnGiveUp. Its outcome goes to the caller.
type GiveUpEvent struct {
	Attempt Attempt
	// Reason is one of the GiveUp constants.
	Reason string
}

// Reason is a short description of why the attempt failed: its status
// ("503 Service Unavailable") or its error.
func (e RetryEvent) Reason() string { return e.Attempt.reason() }

// reason is the attempt's status, or its error.
func (a Attempt) reason() string {
	if a.Response != nil {
		return a.Response.Status
	}
	if a.Err != nil {
		return a.Err.Error()
	}
	return ""
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
// retrying: 408, 429, 500, 502, 503 and 504. 501 and 505 are permanent.
func IsRetryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// IsTransientError reports whether err, returned by a RoundTripper, is worth
// retrying: a timeout of the transport (dial, TLS handshake, response
// headers, the per-try timeout), a refused or reset connection, a connection
// that ended before the response, an HTTP/2 stream the server refused,
// failed or cancelled, a GOAWAY. A context's own error (context.Canceled or
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
