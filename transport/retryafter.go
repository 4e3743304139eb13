package transport

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// maxRetryAfterSeconds is where delay-seconds saturate: far above any
// sensible MaxRetryAfter, far below time.Duration's overflow.
const maxRetryAfterSeconds = 1 << 31

// ParseRetryAfter reads how long the server asks the client to wait,
// measured from now: from retry-after-ms or x-ms-retry-after-ms
// (milliseconds, as OpenAI's and Azure's APIs send them) when one of them
// is valid, since they are the more precise, or else from the Retry-After
// header of h (RFC 9110 §10.2.3).
// It accepts delay-seconds and an HTTP-date in any of the three formats of
// http.ParseTime. An HTTP-date is measured against the response's own Date
// header when it has a valid one, so that clock skew between client and
// server does not change the wait.
//
// ok is false when the header is absent, malformed, negative, or a date
// that is not in the future; the caller then falls back to its backoff.
// Huge delay-seconds saturate rather than overflow, so that they exceed any
// cap. The result is never negative.
func ParseRetryAfter(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	for _, name := range [...]string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if ms, ok := parseDelaySeconds(strings.TrimSpace(h.Get(name))); ok {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, ok := parseDelaySeconds(v); ok {
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	wait = at.Sub(now)
	if wait <= 0 {
		return 0, false
	}
	return wait, true
}

// parseDelaySeconds parses 1*DIGIT, saturating at maxRetryAfterSeconds
// (read as milliseconds, that is still far above any sensible cap).
func parseDelaySeconds(v string) (int64, bool) {
	return parseDigits(v, maxRetryAfterSeconds)
}

// parseDigits parses 1*DIGIT as a non-negative integer, saturating at
// ceiling: no header a server sends can overflow it.
func parseDigits(v string, ceiling int64) (int64, bool) {
	if v == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < ceiling {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, ceiling), true
}

// askedWait reads the wait the server asks for in h (ParseRetryAfter),
// measured from now, and holds it against limit: over reports a wait above
// limit, which Retry refuses (RetryPolicy.MaxRetryAfter) and RateLimit cuts
// to limit (RateLimitOptions.MaxCoolDown). With endsInTime, it is every
// bound a server's wait meets.
func askedWait(h http.Header, now time.Time, limit time.Duration) (d time.Duration, ok, over bool) {
	d, ok = ParseRetryAfter(h, now)
	return d, ok, ok && d > limit
}

// endsInTime reports whether a wait that ends at end ends before ctx's
// deadline, if it has one: the one rule by which Retry (before a retry) and
// RateLimit (before sending) give up at once on a wait that could only end
// with the caller's deadline.
func endsInTime(ctx context.Context, end time.Time) bool {
	deadline, ok := responseDeadline(ctx)
	return !ok || !end.After(deadline)
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
