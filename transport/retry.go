package transport

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
)

// Retry returns a middleware that sends a call again when an attempt fails
// in a way that is safe and worth retrying, as p says.
//
// What is retried: transient transport errors (see IsTransientError), the
// statuses of IsRetryableStatus, and 409 Conflict on a request with an
// Idempotency-Key (the original is still in progress). Only idempotent
// methods are retried (see IsIdempotent), or requests with an
// Idempotency-Key or X-Idempotency-Key header; any other request is retried
// only when the server did not act on it: it provably never reached the
// server (see Attempt.NotSent), or the server refused it (429, 503, 529:
// see IsRefusal). A server's x-should-retry header overrides the status
// (see ServerSaysRetry). Never retried: the call's context ending, and an
// error reading the caller's own body. RetryPolicy.Classifier can override
// the rest.
//
// Before retry k it waits a random duration in
// [0, min(MaxDelay, BaseDelay·2^(k-1))), or what the response's Retry-After
// asks for. A Retry-After above MaxRetryAfter, or a wait that would end after
// the context's deadline, ends the call at once with the last outcome as it
// came. A wait ends early, with the context's error, if the context ends.
//
// When the call ends on a response, that response is returned as it came,
// body unread, with a nil error; Attempts(resp) says how many attempts
// were sent (for a retried call, resp.Request is a copy of the last
// attempt's request that carries the count). When it ends on an error, the
// error is a *RetryError. Each failed response is drained (bounded in bytes
// and time) and closed before the next attempt, so its connection is
// reused.
//
// The caller's request is never modified: an attempt that needs its own
// body or context is a clone. The caller's body is closed exactly once.
// Retries, give-ups and the end of each call are reported to the Trace of
// the call's context (see WithTrace) and to RetryPolicy.OnRetry/OnGiveUp.
//
// It is safe for concurrent use. It panics if p has a negative duration.
func Retry(p RetryPolicy) Middleware { return retryWith(p, hostView[hostBudget]{}, nil) }

// retryWith is Retry keeping its budget in shared (a chain's table), or in
// a table of its own when shared is nil.
func retryWith(p RetryPolicy, budgets hostView[hostBudget], chain *Trace) Middleware {
	p = p.withDefaults()
	hooks := chain // the client's Trace and the policy's hooks, for every call
	if p.OnRetry != nil || p.OnGiveUp != nil {
		hooks = join(chain, &Trace{Retry: p.OnRetry, GiveUp: p.OnGiveUp})
	}
	return func(next http.RoundTripper) http.RoundTripper {
		_, inChain := next.(link)
		next = wrapped("Retry", next)
		if !inChain {
			// No Chain below, so no clock at its bottom: it runs just
			// inside Retry (for the policy's per-try timeout or a call's,
			// WithPerTryTimeout), and takes the timeout out of the context
			// so that a Chain further down does not run a second one.
			next = &perTryTransport{next: next, last: true}
		}
		// The budget belongs to this transport: shared by all its calls.
		t := &retryTransport{sender: sender{next: next, p: p, budgets: newBudgets(p.Budget, budgets), below: takerBelow(next, budgets.table)},
			hooks: hooks, ref: budgets.ref}
		if len(p.Hosts) > 0 {
			t.circuits = newHostTable[atomic.Int64](DefaultMaxHosts, nil)
		}
		return t
	}
}

type retryTransport struct {
	sender                           // the attempts: the transport below, the policy, the budgets
	hooks  *Trace                    // the client's Trace (ClientOptions.Trace), OnRetry and OnGiveUp; nil without them
	ref    func(host string) hostRef // a host's entry in the chain's table, for below; nil without one
	// circuits remembers, per host of RetryPolicy.Hosts, until when an open
	// circuit below said it refuses requests (Unix nanoseconds), so that a
	// call starts on a host that will take it. nil without Hosts.
	circuits *hostTable[atomic.Int64]
}

var _ http.RoundTripper = (*retryTransport)(nil)

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	co := callFrom(ctx) // nil unless the caller set per-call options
	safe := IsIdempotent(req.Method) || HasIdempotencyKey(req.Header) || (co != nil && co.repeatable)
	maxRetries := co.retries(t.p.MaxRetries)
	retries := maxRetries > 0
	var body *bodyreplay.Body
	rbody := req.Body
	if req.Body != nil && req.Body != http.NoBody && retries {
		// Whatever the method, a refusal (IsRefusal) sends the whole body
		// again, so every body is recorded up to the same limits.
		body = bodyreplay.NewWith(req, t.p.Body)
		defer body.Close()
		rbody, _ = body.Next() // the first attempt's body never fails
	}
	var r hostRef // the host's entry in the chain's table: looked up once for the layers below
	if t.below != nil && req.URL != nil {
		r = t.ref(req.URL.Host)
	}
	var hb *hostBudget
	if t.budgets != nil && retries && req.URL != nil {
		hb = t.budgets.hosts.at(req.URL.Host, r)
		t.budgets.depositCall(hb)
	}
	c := call{t: t, req: req, trace: join(traceFrom(ctx), t.hooks), hb: hb}
	shift := t.firstHost(req)
	retriesLeft := maxRetries
	perTry := co.perTryTimeout(t.p.PerTryTimeout)
	var throttledFor time.Duration // waits asked by 429s, which spend no retries
	var a attempt
	for n := 1; ; n++ {
		var sent time.Time // when the attempt began, for an event stream's hold
		if perTry > 0 {
			sent = time.Now()
		}
		host := t.hostFor(req, n+shift)
		if n > 1 && r != nil && host == "" {
			// Looked up again for each retry: a long wait may have seen
			// the host's entry make way for another host's.
			r = t.ref(req.URL.Host)
		}
		t.try(&a, req, co, r, rbody, body, host, n, !safe && retries)
		if retriesLeft > 0 && t.p.EventStream.Limit > 0 && a.err == nil && isEventStream(a.resp) {
			t.holdEvents(ctx, &a, sent, perTry)
		}
		c.left = retriesLeft
		var another bool // a next attempt would go to another host
		if a.refused && a.req.URL != nil {
			t.noteRefusal(a.req.URL.Host, a.err)
			var open bool
			shift, open = t.pastOpenCircuits(req, n+1, shift)
			next := t.hostFor(req, n+1+shift)
			another = open && next != "" && !strings.EqualFold(next, a.req.URL.Host)
		}
		if !t.retryable(ctx, &a, n, safe, another) {
			return c.end(&a, n)
		}
		// Decide everything before touching the body in flight: a call that
		// stops here returns this attempt's response, and its connection,
		// intact.
		now := time.Now()
		v := t.decide(ctx, &a, n, now, hb, retriesLeft, throttledFor, retries)
		if v.stop == 0 && body != nil {
			// Seals the attempt in flight, only if the body can be
			// replayed, and gets the next copy (GetBody, Seek).
			next, err := body.Next()
			if err != nil {
				v.stop = GiveUpNotReplayable
				if v.spent {
					t.budgets.refund(hb)
				}
			}
			rbody = next
		}
		if v.stop != 0 {
			if retries {
				c.trace.giveUp(GiveUpEvent{Request: c.req, Attempt: a.public(n), Reason: v.stop})
			}
			return c.end(&a, n)
		}
		if v.throttled {
			throttledFor += v.wait
		} else {
			retriesLeft--
		}
		c.trace.retry(RetryEvent{Request: c.req, Attempt: a.public(n), Wait: v.wait, FromRetryAfter: v.fromRetryAfter})
		if err := t.pause(ctx, &a, now, v.wait); err != nil {
			if body != nil {
				_ = rbody.Close() // the next attempt's body, never sent: a file or a copy to release
			}
			return c.end(&attempt{err: err}, n)
		}
	}
}

// call is one call through Retry: what it reports to, and what a resumed
// body may still spend.
type call struct {
	t     *retryTransport
	req   *http.Request
	trace *Trace      // the context's, the client's and the policy's hooks; nil for none
	hb    *hostBudget // the host's retry budget; nil without one
	left  int         // retries left
}

// end delivers attempt n's outcome and reports the end of the call.
func (c *call) end(a *attempt, n int) (*http.Response, error) {
	resp, err := a.deliver(c.req.Context(), n)
	if err == nil {
		setAttempts(resp, c.req, n)
		resp = c.t.withResume(resp, c.req, c.trace, n, c.left, c.hb)
	}
	c.trace.callEnd(CallEndEvent{Request: c.req, Attempts: n, Response: resp, Err: err})
	return resp, err
}

// pause releases a failed attempt and waits until wait has passed since
// now, the moment the wait was decided: the drain of the failed response
// counts as part of the wait. The drain is bounded by DrainTimeout and, with
// a deadline, may use the wait and half of the time left after it, so that
// it never takes the next attempt's time away. It returns the context's
// error if the context ends first.
func (t *retryTransport) pause(ctx context.Context, a *attempt, now time.Time, wait time.Duration) error {
	drain := t.p.DrainTimeout
	if deadline, ok := responseDeadline(ctx); ok {
		slack := deadline.Sub(now) - wait
		drain = min(drain, wait+slack/2)
	}
	a.discard(t.p.DrainLimit, drain)
	return sleep(ctx, wait-time.Since(now))
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *retryTransport) CloseIdleConnections() { closeIdle(t.next) }

// hostFor returns the host that attempt k of the rotation through
// RetryPolicy.Hosts goes to, or "" for the request's own host. Attempt 1 is
// the request's host; if that is in Hosts, attempt k goes to the (k-1)th
// host after it. A request addressed to a host not in Hosts stays on its
// own: a credential belongs to the host it was given for.
func (t *retryTransport) hostFor(req *http.Request, k int) string {
	if k == 1 || len(t.p.Hosts) == 0 || req.URL == nil {
		return ""
	}
	i := t.hostIndex(req)
	if i < 0 {
		return ""
	}
	return t.p.Hosts[(i+k-1)%len(t.p.Hosts)]
}

func (t *retryTransport) hostIndex(req *http.Request) int {
	for j, h := range t.p.Hosts {
		if strings.EqualFold(h, req.URL.Host) {
			return j
		}
	}
	return -1
}

// firstHost returns how far into the rotation a call starts: past the hosts
// whose circuit said it is open, to the first that will take the request.
// When every host refuses, the call starts on its own.
func (t *retryTransport) firstHost(req *http.Request) int {
	shift, ok := t.pastOpenCircuits(req, 1, 0)
	if !ok {
		return 0
	}
	return shift
}

// pastOpenCircuits moves shift past the hosts, from the one attempt k would
// go to, whose circuits are known to be open, and reports whether it found
// one that may take the request: a call refused everywhere stops at once,
// instead of asking each host again.
func (t *retryTransport) pastOpenCircuits(req *http.Request, k, shift int) (int, bool) {
	if t.circuits == nil || req.URL == nil {
		return shift, true
	}
	var now int64 // read only once a circuit was seen open: not on the success path
	for range len(t.p.Hosts) + 1 {
		host := t.hostFor(req, k+shift)
		if host == "" {
			host = req.URL.Host
		}
		until := t.circuits.get(host).Load()
		if until == 0 {
			return shift, true
		}
		if now == 0 {
			now = time.Now().UnixNano()
		}
		if until <= now {
			return shift, true
		}
		shift++
	}
	return shift, false
}

// noteRefusal remembers until when an open circuit refuses host.
func (t *retryTransport) noteRefusal(host string, err error) {
	var open *CircuitOpenError
	if t.circuits == nil || !errors.As(err, &open) {
		return
	}
	t.circuits.get(host).Store(open.Until.UnixNano())
}
