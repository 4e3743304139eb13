package overload

import (
	"context"
	"net/http"
)

// Middleware returns a middleware that admits what the server can serve
// in time and refuses the rest at once:
//
//   - A request is admitted while fewer than the limit are in flight; the
//     limit is learned from the handler's latency (LimiterOptions).
//   - Over the limit, a Normal request waits in a bounded queue, first
//     come first served, and leaves it when its context ends (its caller
//     left): its handler never runs. One whose deadline (TimeoutHeader)
//     is nearer than the wait and the latency is not started.
//   - The rest is answered 503 at once, with Retry-After (whole seconds,
//     at least 1) and retry-after-ms (about the current latency, with
//     jitter: Limiter.RetryAfter), as RFC 9457 problem+json
//     (ProblemBase).
//   - Retries (IsRetry) are Sheddable: they never wait, and are refused
//     while a tenth of the limit is not free. Critical requests pass the
//     limit (up to LimiterOptions.MaxLimit in flight).
//   - A handler's panic gives its slot back, and goes on.
//
// Put it outermost, before idempotency.Middleware: a request refused here
// takes no Idempotency-Key lease, and its retry finds the key free.
// Middleware panics with an "overload: ..." message on bad Options.
func Middleware(o Options) func(http.Handler) http.Handler {
	if o.Limiter == nil {
		o.Limiter = NewLimiter(LimiterOptions{})
	}
	if o.TimeoutHeader != "" {
		o.TimeoutHeader = http.CanonicalHeaderKey(o.TimeoutHeader)
	}
	p := newProblems()
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("overload: Middleware: nil handler")
		}
		return &handler{next: next, o: o, l: o.Limiter, problems: p}
	}
}

type handler struct {
	next     http.Handler
	o        Options
	l        *Limiter
	problems problems
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := Normal
	if h.o.Priority != nil {
		p = h.o.Priority(r)
	} else if IsRetry(r) {
		p = Sheddable
	}
	if h.o.TimeoutHeader != "" {
		if d, ok := parseTimeout(r.Header.Get(h.o.TimeoutHeader)); ok {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			r = r.WithContext(ctx)
		}
	}
	s, err := h.l.Acquire(r.Context(), p)
	if err != nil {
		h.shed(w, r, p, err)
		return
	}
	if h.o.OnAdmit != nil {
		h.o.OnAdmit(r, AdmitEvent{Priority: p, Waited: s.Waited()})
	}
	defer h.done(r, s, p)
	h.next.ServeHTTP(w, r)
}

// done gives the slot back when the handler has returned or panicked.
func (h *handler) done(r *http.Request, s Slot, p Priority) {
	if v := recover(); v != nil {
		s.Cancel()
		if h.o.OnDone != nil {
			h.o.OnDone(r, DoneEvent{Priority: p, Panicked: true})
		}
		panic(v)
	}
	dropped := r.Context().Err() != nil
	latency := s.Release(dropped)
	if h.o.OnDone != nil {
		h.o.OnDone(r, DoneEvent{Priority: p, Latency: latency, Dropped: dropped})
	}
}

// shed answers a refused request.
func (h *handler) shed(w http.ResponseWriter, r *http.Request, p Priority, err error) {
	wait := h.l.RetryAfter()
	h.problems.refuse(w, err, wait)
	if h.o.OnShed != nil {
		h.o.OnShed(r, ShedEvent{
			Priority: p, Err: err, Wait: wait,
			Limit: h.l.Limit(), InFlight: h.l.InFlight(), Queued: h.l.Queued(),
		})
	}
}
