package httptestutil

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimitedHandler is an origin that enforces a rate limit the way public
// APIs do: one token bucket shared by every client, and 429 Too Many Requests
// with Retry-After beyond it. It counts what it served and what it refused,
// so that a test can tell how many requests a client wasted. It is safe for
// concurrent use.
type RateLimitedHandler struct {
	next       http.Handler
	limiter    *rate.Limiter
	retryAfter string
	served     atomic.Int64
	throttled  atomic.Int64
}

// RateLimited returns a handler that serves next at most perSecond times a
// second, with bursts of up to burst requests (a token bucket, full at the
// start), and answers every request beyond that with 429 and
// Retry-After: retryAfter (rounded up to whole seconds), without running
// next. A nil next answers 200 with the body "ok".
func RateLimited(perSecond float64, burst int, retryAfter time.Duration, next http.Handler) *RateLimitedHandler {
	if next == nil {
		next = OK("ok")
	}
	secs := int64(math.Ceil(retryAfter.Seconds()))
	return &RateLimitedHandler{
		next:       next,
		limiter:    rate.NewLimiter(rate.Limit(perSecond), burst),
		retryAfter: strconv.FormatInt(max(secs, 0), 10),
	}
}

// ServeHTTP runs next if the bucket has a token, or answers 429.
func (h *RateLimitedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.limiter.Allow() {
		h.throttled.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", h.retryAfter)
		http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
		return
	}
	h.served.Add(1)
	h.next.ServeHTTP(w, r)
}

// Served returns how many requests were let through to next.
func (h *RateLimitedHandler) Served() int { return int(h.served.Load()) }

// Throttled returns how many requests were answered 429.
func (h *RateLimitedHandler) Throttled() int { return int(h.throttled.Load()) }
