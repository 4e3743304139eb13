package transport

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
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
// 4 KiB or 500ms, the start of an event stream held back until its first
// content for 64 KiB or 10s at most.
//
// A policy is copied by Retry; changing it afterwards has no effect.
type RetryPolicy struct {
	// MaxRetries is how many times a call may be sent again after its
	// first attempt: 3 means at most 4 attempts. Its zero value is not
	// "none" but DefaultMaxRetries (3), so that RetryPolicy{} retries; to
	// send every call once, with no retry, set it to a negative value
	// (-1).
	//
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

	// PerTryTimeout bounds one attempt's time on the network, until its
	// response headers arrive; a hung attempt is cut and counts as a
	// transient error (ErrPerTryTimeout). The clock runs at the bottom of
	// the chain, just above the base transport, so that waits inside Retry
	// on the client's side (RateLimit, a Headers.Dynamic token fetch) do
	// not count, and a Breaker sees the timeout as an error from the
	// transport below it. The body of the response that is returned is not
	// bound by it. 0 means no per-try timeout.
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
	// goroutine of the call, for every call through this Retry: the
	// transport-wide form of Trace.Retry, which sees the same events. It
	// must not read the response body.
	OnRetry func(RetryEvent)

	// OnGiveUp, when set, is called when a limit kept an attempt that
	// could have been retried from being retried (see GiveUpReason), on
	// the goroutine of the call: the transport-wide form of Trace.GiveUp.
	// It must not read the response body.
	OnGiveUp func(GiveUpEvent)

	// Budget bounds retries to a share of calls, per host (see RetryBudget).
	// It is on by default.
	Budget RetryBudget

	// Hosts, when set, lists equivalent instances of the service, as
	// host or host:port: each retry of a call addressed to one of them goes
	// to the next one after the host the previous attempt went to (the
	// caller's request is not modified; the attempt's clone is). An open
	// circuit is then retried on the next host. A call addressed to any
	// other host is retried on its own host only: its credentials were
	// given for that host, and another's answer is not its answer.
	Hosts []string

	// Body bounds what is kept of a request body without GetBody (and
	// that is not an io.Seeker) so that a retry can send it again:
	// Body.Limit bytes in memory, then Body.SpillLimit more in a temporary
	// file in Body.SpillDir, so that a large upload from a plain io.Reader
	// can be retried in bounded memory (see bodyreplay). The file is made
	// only for a body that passes the memory limit, is unlinked as soon as
	// it is made where the system allows it, and is closed when the call and
	// its last attempt are done. A body longer than both limits together is
	// sent once and not retried; if the file cannot be written (a full
	// disk), the call goes on without a retry. Here 0 means the default of
	// each limit, DefaultBodyReplayLimit and DefaultBodySpillLimit; a
	// negative value keeps nothing (in memory: such bodies are sent once and
	// never retried; on disk: memory only). The limits are the same for
	// every method: a POST without an Idempotency-Key is retried when the
	// server refuses it (IsRefusal), and then needs its whole body again.
	Body bodyreplay.Options

	// DrainLimit is how many bytes of a failed response body are read
	// before the next attempt, so that its connection can be reused.
	// 0 means DefaultDrainLimit; a negative value closes without reading.
	DrainLimit int64

	// NoResume turns off resuming downloads. By default, the body of a GET
	// answered 200 with Accept-Ranges: bytes and a strong validator (an
	// ETag, or a Last-Modified a second before the response's Date) goes on
	// where it broke off when the connection fails mid-body: the rest is
	// asked for with Range and If-Range, and taken only if it is a 206 of
	// exactly the rest of the same version; anything else gives the caller
	// the original error, never mixed bytes. Each resume spends one of the
	// retries the call had left, and the host's retry budget.
	NoResume bool

	// DrainTimeout bounds the time spent draining one failed response body.
	// 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// EventStream bounds how long the start of an event stream (a 200
	// answered text/event-stream, as LLM APIs stream) is held back, so
	// that an error event the server sends before any content (Anthropic's
	// overloaded_error, OpenAI's server_is_overloaded) is retried as a
	// refusal is, when nothing has reached the caller yet. See
	// EventStreamOptions.
	EventStream EventStreamOptions
}

// withDefaults returns p with its zero fields set to the defaults. It panics
// on a negative duration, which is always a mistake.
func (p RetryPolicy) withDefaults() RetryPolicy {
	for name, d := range map[string]time.Duration{
		"BaseDelay": p.BaseDelay, "MaxDelay": p.MaxDelay, "MaxRetryAfter": p.MaxRetryAfter,
		"PerTryTimeout": p.PerTryTimeout, "DrainTimeout": p.DrainTimeout,
		"EventStream.Timeout": p.EventStream.Timeout,
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
	p.BaseDelay = cmp.Or(p.BaseDelay, DefaultBaseDelay)
	p.MaxDelay = cmp.Or(p.MaxDelay, DefaultMaxDelay)
	p.MaxRetryAfter = cmp.Or(p.MaxRetryAfter, DefaultMaxRetryAfter)
	p.DrainTimeout = cmp.Or(p.DrainTimeout, DefaultDrainTimeout)
	p.Body.Limit = cmp.Or(p.Body.Limit, DefaultBodyReplayLimit)
	p.Body.SpillLimit = cmp.Or(p.Body.SpillLimit, DefaultBodySpillLimit)
	p.DrainLimit = cmp.Or(p.DrainLimit, DefaultDrainLimit)
	p.EventStream.Limit = cmp.Or(p.EventStream.Limit, defaultEventStreamLimit)
	p.EventStream.Timeout = cmp.Or(p.EventStream.Timeout, defaultEventStreamTimeout)
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

// Defaults of EventStreamOptions, as its doc says them.
const (
	defaultEventStreamLimit   = 64 << 10 // 64 KiB
	defaultEventStreamTimeout = 10 * time.Second
)

// EventStreamOptions bounds how Retry holds back the start of an event
// stream: a 200 response whose Content-Type is text/event-stream, to a call
// that Retry could still send again. Its events that carry no content are
// held back until the first that does, or an error event, or a bound:
//
//   - an event with content (anything but the events below) releases the
//     stream: the caller reads it from its first byte, exactly as it came;
//   - no content: an event without data, a comment, Anthropic's ping and
//     message_start, OpenAI's response.created, response.queued and
//     response.in_progress, and a chat completion chunk whose choices carry
//     nothing but a role (the first chunk, "delta":{"role":"assistant",
//     "content":""});
//   - an error event (event: error, OpenAI's response.failed, or a chunk
//     whose JSON has an "error") fails the attempt: a refusal
//     (overloaded_error and rate_limit_error of Anthropic's, OpenAI's
//     server_is_overloaded, slow_down, rate_limit_exceeded and
//     service_unavailable_error, named by the error's code or type) is
//     retried whatever the method, as a 529 or 429 is; a failure of the
//     server's (api_error, timeout_error, server_error) only for a call that
//     may be sent again, as a 500 is (an idempotent method, an
//     Idempotency-Key, WithRepeatable); any other error, or a call that is
//     not retried, gets the stream as it came, the error event in it.
//
// A stream that reaches Limit bytes or Timeout without content, or ends, is
// released as it is, and so is one whose attempt meets its per-try timeout
// or half the time left to the call's deadline: the hold never takes the
// time the caller needs to read it. Other content types, other statuses and
// calls that cannot be retried are never touched.
type EventStreamOptions struct {
	// Limit bounds the bytes held back. 0 means 64 KiB; a negative value
	// turns the hold off: an error event then always reaches the caller.
	Limit int64
	// Timeout bounds the time the stream is held back. 0 means 10 s.
	Timeout time.Duration
}
