package transport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// The retry engine's verdicts on an attempt that failed: whether the rules
// of Retry and its Classifier retry it (retryable), and if so, after what
// wait, or which limit stops the call there (decide).

// retryable applies the rules of Retry, and the Classifier, to attempt n.
// another reports whether a next attempt would go to another host.
func (t *sender) retryable(ctx context.Context, a *attempt, n int, safe, another bool) bool {
	if ctx.Err() != nil || a.bodyErr {
		return false
	}
	d := Default
	if a.call != nil && a.call.classifier != nil {
		d = a.call.classifier(a.public(n)) // the call's own (WithClassifier) first
	}
	if d == Default && t.p.Check != nil {
		var err error
		if d, err = t.p.Check(a.public(n)); err != nil {
			a.discard(t.p.DrainLimit, t.p.DrainTimeout)
			a.resp, a.err = nil, err
			return false
		}
	}
	if d == Default && t.p.Classifier != nil {
		d = t.p.Classifier(a.public(n))
	}
	switch d {
	case RetryAttempt:
		return true
	case StopRetrying:
		return false
	}
	if a.err != nil {
		if a.refused {
			return another // only another host can answer now
		}
		if a.local {
			return true // a refusal of the client's own: nothing was sent
		}
		return (safe || a.notSent) && IsTransientError(a.err)
	}
	if a.stream != nil {
		// An error event before any content: nothing reached the caller.
		// A refusal is retried as a 429 or 529 is, whatever the method; a
		// failure of the server's (api_error, server_error) as a 500 is.
		return a.stream.Refusal || (safe && isTransientEvent(a.stream.Type))
	}
	code := a.resp.StatusCode
	if retry, said := ServerSaysRetry(a.resp.Header); said && !(retry && code >= 200 && code < 300) {
		// The server knows whether its answer is worth another try, but
		// a success says the effect happened: a contradictory header
		// never sends it again.
		return retry
	}
	if IsRefusal(code) {
		return true // the server did not act: any method may be sent again
	}
	if !safe {
		return false
	}
	return IsRetryableStatus(code) ||
		(code == http.StatusConflict && HasIdempotencyKey(a.req.Header))
}

// nextTry is what follows an attempt that the rules retry: a wait and a
// retry, or a limit that stops the call (stop).
type nextTry struct {
	wait           time.Duration
	fromRetryAfter bool
	throttled      bool // a 429 that named a wait of a second or more: it spends no retry
	spent          bool // the retry was taken from the host's budget (hb)
	stop           GiveUpReason
}

// decide chooses what follows attempt n, which the rules retry, at now:
// left retries remain, throttledFor was waited already on throttles, hb is
// the host's budget (nil for none) and retries says the policy retries at
// all. Everything is decided before the body in flight is touched, so that
// a call that stops returns this attempt's response, and its connection,
// intact.
func (t *sender) decide(ctx context.Context, a *attempt, n int, now time.Time, hb *hostBudget, left int, throttledFor time.Duration, retries bool) nextTry {
	var v nextTry
	if !a.refused { // a refusal cost the server nothing: no wait, no budget
		v.wait, v.fromRetryAfter, v.stop = t.wait(ctx, a, n, now)
	}
	v.throttled = retries && isThrottled(a, v.wait, v.fromRetryAfter)
	switch {
	case !v.throttled && left == 0:
		v.stop = GiveUpMaxRetries
	case v.stop != 0:
	case v.throttled && throttledFor+v.wait > t.p.MaxRetryAfter:
		v.stop = GiveUpThrottled
	case hb != nil && !a.refused && !a.local && !askedFor(a, v.wait, v.fromRetryAfter):
		if v.spent = t.budgets.withdrawRetry(hb); !v.spent {
			v.stop = GiveUpBudget
		}
	}
	return v
}

// isThrottled reports whether attempt a was throttled: a 429 whose
// Retry-After asks for at least a second. Its retry waits as asked and
// spends none of MaxRetries: the server is healthy and said when to come
// back, and the call should not fail for losing the race for the server's
// next tokens a few times in a row. Such waits add up to MaxRetryAfter at
// most in one call, so no server can hold a call longer than that.
func isThrottled(a *attempt, wait time.Duration, fromRetryAfter bool) bool {
	return fromRetryAfter && wait >= time.Second && a.resp != nil && a.resp.StatusCode == http.StatusTooManyRequests
}

// askedFor reports whether the retry after attempt a is one the server
// asked for: a refusal (IsRefusal) that named a wait. It spends no retry
// budget: the budget stops a client from multiplying an outage, and a server
// that names its wait sets the pace of the retries itself. It cannot become
// a storm: such retries still count against MaxRetries (or, for 429s that
// ask for a second or more, against MaxRetryAfter: see isThrottled), and
// each waits what was asked.
func askedFor(a *attempt, wait time.Duration, fromRetryAfter bool) bool {
	return fromRetryAfter && wait > 0 && a.resp != nil && IsRefusal(a.resp.StatusCode)
}

// wait chooses the wait before the retry that follows attempt n, decided at
// now. stop says why there is none: the server asks for more than
// MaxRetryAfter, or the wait would end after the context's deadline.
func (t *sender) wait(ctx context.Context, a *attempt, n int, now time.Time) (d time.Duration, fromRetryAfter bool, stop GiveUpReason) {
	var rejected *RejectedError
	switch {
	case a.local && errors.As(a.err, &rejected) && rejected.Wait > 0:
		d = rejected.Wait // when the host would take it: no sooner
	case t.p.Backoff != nil:
		d = min(max(t.p.Backoff(a.public(n)), 0), t.p.MaxDelay)
	default:
		d = backoff(t.p.BaseDelay, t.p.MaxDelay, n)
	}
	if a.resp != nil {
		if ra, has, over := askedWait(a.resp.Header, now, t.p.MaxRetryAfter); over {
			return ra, true, GiveUpRetryAfter
		} else if has {
			d, fromRetryAfter = ra, true
		}
	}
	if !endsInTime(ctx, now.Add(d)) {
		return d, fromRetryAfter, GiveUpDeadline
	}
	return d, fromRetryAfter, 0
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
