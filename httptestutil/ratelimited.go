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
	announce   bool
	served     atomic.Int64
	throttled  atomic.Int64
}

// AnnounceQuota makes h announce its quota on every response, as the IETF
// httpapi rate-limit draft has it: RateLimit-Policy `"default";q=Q;w=1`
// (Q the rate per second) and RateLimit `"default";r=R;t=T` (R the whole
// tokens left, T the seconds until the bucket is full again, rounded up).
// It returns h, and must be called before h serves.
func (h *RateLimitedHandler) AnnounceQuota() *RateLimitedHandler {
	h.announce = true
	return h
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
	allowed := h.limiter.Allow()
	if h.announce {
		perSecond := float64(h.limiter.Limit())
		tokens := max(h.limiter.Tokens(), 0)
		full := math.Ceil((float64(h.limiter.Burst()) - tokens) / perSecond)
		w.Header().Set("RateLimit-Policy", `"default";q=`+strconv.Itoa(int(perSecond))+`;w=1`)
		w.Header().Set("RateLimit", `"default";r=`+strconv.Itoa(int(tokens))+`;t=`+strconv.Itoa(int(full)))
	}
	if !allowed {
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
