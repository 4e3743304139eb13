package overload

import (
	"net/http"
	"time"
)

// Options configures Middleware. Its zero value needs no tuning: a
// Limiter of its own with the defaults of LimiterOptions, retries shed
// first (DefaultPriority), no deadline header, no hooks.
type Options struct {
	// Limiter admits the requests. nil means NewLimiter(LimiterOptions{}),
	// the Middleware's own. Give the same Limiter to several middlewares
	// (or to rtgrpc's interceptor) for one limit shared by all of them.
	Limiter *Limiter
	// Priority ranks a request for shedding: Critical for health checks
	// and the routes that must answer, Sheddable for what may go first.
	// nil means DefaultPriority; a hook of your own may end in it.
	Priority func(*http.Request) Priority
	// TimeoutHeader, when set, names a header in which a caller says how
	// long it will wait for the answer: an integer of milliseconds
	// (Envoy's x-envoy-expected-rq-timeout-ms) or a grpc-timeout value
	// (digits then a unit, H M S m u n: "250m"). A request whose wait
	// cannot end in time is refused at once (ErrDeadline), and the
	// handler's context ends at that deadline. Malformed values are
	// ignored. "" (the default) reads no header: a client's word on time
	// is trusted only where the operator says so.
	TimeoutHeader string
	// OnShed, when set, is called after a request was refused, with the
	// request and what happened: for metrics (a counter of shed requests
	// by priority). It must be safe for concurrent use.
	OnShed func(*http.Request, ShedEvent)
	// OnAdmit, when set, is called when a request is admitted, before the
	// handler runs. It must be safe for concurrent use.
	OnAdmit func(*http.Request, AdmitEvent)
	// OnDone, when set, is called when an admitted request's handler has
	// returned (or panicked), after its slot was given back. It must be
	// safe for concurrent use.
	OnDone func(*http.Request, DoneEvent)
}

// A ShedEvent is a refused request, for Options.OnShed.
type ShedEvent struct {
	Priority Priority
	// Err is why: ErrOverloaded, ErrDeadline, or the context's error if
	// the caller left while it waited.
	Err error
	// Wait is what the answer asked the client to wait (retry-after-ms).
	Wait time.Duration
	// Limit, InFlight and Queued are the Limiter's, as the request was
	// refused.
	Limit, InFlight, Queued int
}

// An AdmitEvent is an admitted request, for Options.OnAdmit.
type AdmitEvent struct {
	Priority Priority
	// Waited is how long the request waited in the queue for its slot.
	Waited time.Duration
}

// A DoneEvent is an admitted request whose handler returned, for
// Options.OnDone.
type DoneEvent struct {
	Priority Priority
	// Latency is the handler's run, from admission: what the limit
	// learned from.
	Latency time.Duration
	// Dropped reports that the request's context ended before the
	// handler returned: its caller left, or its deadline passed.
	Dropped bool
	// Panicked reports a handler that panicked (the panic goes on).
	Panicked bool
}
