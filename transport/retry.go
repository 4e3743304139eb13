package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
)

// unsentReplayLimit bounds the record kept for a request that is retried only
// if it provably never reached the server: its body has then barely been read.
const unsentReplayLimit = 4 << 10

// Retry returns a middleware that sends a call again when an attempt fails
// in a way that is safe and worth retrying, as p says.
//
// What is retried: transient transport errors (see IsTransientError), the
// statuses of IsRetryableStatus, and 409 Conflict on a request with an
// Idempotency-Key (the original is still in progress). Only idempotent
// methods are retried (see IsIdempotent), or requests with an
// Idempotency-Key or X-Idempotency-Key header; any other request is retried
// only when it provably never reached the server (see Attempt.NotSent).
// Never retried: the call's context ending, and an error reading the
// caller's own body. RetryPolicy.Classifier can override the rest.
//
// Before retry k it waits a random duration in
// [0, min(MaxDelay, BaseDelay·2^(k-1))), or what the response's Retry-After
// asks for. A Retry-After above MaxRetryAfter, or a wait that would end after
// the context's deadline, ends the call at once with the last outcome as it
// came. A wait ends early, with the context's error, if the context ends.
//
// When the call ends on a response, that response is returned untouched,
// body unread, with a nil error. When it ends on an error, the error is a
// *RetryError. Each failed response is drained (bounded in bytes and time)
// and closed before the next attempt, so its connection is reused.
//
// The caller's request is never modified: an attempt that needs its own
// body or context is a clone. The caller's body is closed exactly once.
//
// Retry panics if p has a negative duration.
func Retry(p RetryPolicy) Middleware {
	p = p.withDefaults()
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			panic("transport: Retry: nil RoundTripper")
		}
		// The budget belongs to this transport: shared by all its calls.
		return &retryTransport{next: next, p: p, budgets: newBudgets(p.Budget)}
	}
}

type retryTransport struct {
	next    http.RoundTripper
	p       RetryPolicy
	budgets *budgets // nil when disabled
}

var _ http.RoundTripper = (*retryTransport)(nil)

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	safe := IsIdempotent(req.Method) || HasIdempotencyKey(req.Header)
	retries := t.p.MaxRetries > 0
	var body *bodyreplay.Body
	if req.Body != nil && req.Body != http.NoBody && retries {
		limit := t.p.BodyReplayLimit
		if !safe {
			limit = min(limit, unsentReplayLimit)
		}
		body = bodyreplay.New(req, limit)
		defer body.Close()
	}
	var hb *hostBudget
	if t.budgets != nil && retries && req.URL != nil {
		hb = t.budgets.hosts.get(req.URL.Host)
		t.budgets.depositCall(hb)
	}
	obs := observerFrom(ctx)
	for n := 1; ; n++ {
		a := t.try(req, body, n, !safe && retries)
		if !t.retryable(ctx, &a, n, safe) {
			return t.end(obs, &a, n)
		}
		wait, fromRetryAfter, stop := t.wait(ctx, &a, n)
		switch {
		case n > t.p.MaxRetries:
			stop = GiveUpMaxRetries
		case stop != "":
		case body != nil && !body.Seal():
			stop = GiveUpNotReplayable
		case hb != nil && !t.budgets.withdrawRetry(hb):
			stop = GiveUpBudget
		}
		if stop != "" {
			if retries {
				t.gaveUp(obs, &a, n, stop)
			}
			return t.end(obs, &a, n)
		}
		if t.p.OnRetry != nil || (obs != nil && obs.onRetry != nil) {
			ev := RetryEvent{Attempt: a.public(n), Wait: wait, FromRetryAfter: fromRetryAfter}
			if t.p.OnRetry != nil {
				t.p.OnRetry(ev)
			}
			if obs != nil && obs.onRetry != nil {
				obs.onRetry(ev)
			}
		}
		a.discard(&t.p)
		if err := sleep(ctx, wait); err != nil {
			a := attempt{err: err}
			return t.end(obs, &a, n)
		}
	}
}

func (t *retryTransport) gaveUp(obs *callObserver, a *attempt, n int, reason string) {
	if t.p.OnGiveUp == nil && (obs == nil || obs.onGiveUp == nil) {
		return
	}
	ev := GiveUpEvent{Attempt: a.public(n), Reason: reason}
	if t.p.OnGiveUp != nil {
		t.p.OnGiveUp(ev)
	}
	if obs != nil && obs.onGiveUp != nil {
		obs.onGiveUp(ev)
	}
}

// end reports the call's attempt count to an outer observer and delivers
// attempt n's outcome.
func (t *retryTransport) end(obs *callObserver, a *attempt, n int) (*http.Response, error) {
	if obs != nil {
		obs.attempts = n
	}
	return a.deliver(n)
}

// hostFor returns the host attempt n goes to under RetryPolicy.Hosts, or ""
// for the request's own host.
func (t *retryTransport) hostFor(req *http.Request, n int) string {
	if n == 1 || len(t.p.Hosts) == 0 || req.URL == nil {
		return ""
	}
	i := -1
	for j, h := range t.p.Hosts {
		if strings.EqualFold(h, req.URL.Host) {
			i = j
			break
		}
	}
	if i < 0 { // the request's host is not in the list: retries go through it
		return t.p.Hosts[(n-2)%len(t.p.Hosts)]
	}
	return t.p.Hosts[(i+n-1)%len(t.p.Hosts)]
}

func (a *attempt) public(n int) Attempt {
	return Attempt{Request: a.req, Number: n, Response: a.resp, Err: a.err, NotSent: a.notSent}
}

// retryable applies the rules of Retry, and the Classifier, to attempt n.
func (t *retryTransport) retryable(ctx context.Context, a *attempt, n int, safe bool) bool {
	if ctx.Err() != nil || a.bodyErr {
		return false
	}
	if t.p.Classifier != nil {
		switch t.p.Classifier(a.public(n)) {
		case RetryAttempt:
			return true
		case StopRetrying:
			return false
		}
	}
	if a.err != nil {
		if errors.Is(a.err, ErrCircuitOpen) {
			return len(t.p.Hosts) > 1 // only another host can answer now
		}
		return (safe || a.notSent) && IsTransientError(a.err)
	}
	if !safe {
		return false
	}
	code := a.resp.StatusCode
	return IsRetryableStatus(code) ||
		(code == http.StatusConflict && HasIdempotencyKey(a.req.Header))
}

// wait chooses the wait before the retry that follows attempt n. stop says
// why there is none: the server asks for more than MaxRetryAfter, or the wait
// would end after the context's deadline.
func (t *retryTransport) wait(ctx context.Context, a *attempt, n int) (d time.Duration, fromRetryAfter bool, stop string) {
	now := time.Now()
	d = backoff(t.p.BaseDelay, t.p.MaxDelay, n)
	if a.resp != nil {
		if ra, has := ParseRetryAfter(a.resp.Header, now); has {
			if ra > t.p.MaxRetryAfter {
				return ra, true, GiveUpRetryAfter
			}
			d, fromRetryAfter = ra, true
		}
	}
	if deadline, has := ctx.Deadline(); has && now.Add(d).After(deadline) {
		return d, fromRetryAfter, GiveUpDeadline
	}
	return d, fromRetryAfter, ""
}

// backoff is the full-jitter wait before retry k (k ≥ 1): a random duration
// in [0, min(maxDelay, base·2^(k-1))).
func backoff(base, maxDelay time.Duration, k int) time.Duration {
	ceil := maxDelay
	if shift := k - 1; shift < 62 {
		if d := base << shift; d>>shift == base && d < ceil {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil)))
}

// sleep waits for d, or until ctx ends, whichever is first. It returns the
// context's error if the context ended.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
