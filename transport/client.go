package transport

import (
	"cmp"
	"net/http"
	"time"
)

// The top of the package: NewClient and its options, where the layers are
// put in order and share one table of hosts.

// ClientOptions configures NewClientWith. Its zero value is NewClient's
// default chain. Each layer is configured by its own options, and is left
// out of the chain by one rule: when its options leave it nothing to do
// (Log without a Logger, IdempotencyKeys false, Breaker or RateLimit
// Disabled, Headers empty).
type ClientOptions struct {
	// Base is the RoundTripper at the bottom of the chain. nil means
	// DefaultPooledTransport().
	Base http.RoundTripper
	// Log configures the Logging layer, which is in the chain when
	// Log.Logger is set: the client is quiet by default. The logger also
	// gets the Breaker's changes of state (LogBreakerChanges).
	Log LogOptions
	// IdempotencyKeys adds the IdempotencyKeys layer: each POST and PATCH
	// without a key gets one, which makes it retryable. Turn it on only for
	// servers known to honour Idempotency-Key (Stripe, Adyen, PayPal, a
	// service behind rtchain's idempotency middleware): against a server
	// that ignores the header, a retried POST can take effect twice. Off,
	// POST and PATCH are retried only when they provably never reached the
	// server, or when the caller set a key.
	IdempotencyKeys bool
	// Hedge configures the Hedge layer, in the chain above Retry when
	// Hedge.Delay is set (hedging is off by default); its Hosts default to
	// Retry.Hosts.
	Hedge HedgeOptions
	// Retry configures the Retry layer.
	Retry RetryPolicy
	// Breaker configures the Breaker layer: a circuit per host by default.
	Breaker BreakerOptions
	// Limit configures the Limit layer, an adaptive limit of the attempts
	// in flight to each host, in the chain between Breaker and RateLimit
	// when Limit.Enabled is set. It is off by default: it keeps a server
	// without load shedding from drowning in its own queue, but takes the
	// latency of a host whose calls differ in length (long polls) for a
	// queue (see Limit).
	Limit LimitOptions
	// RateLimit configures the RateLimit layer. By default it sets no
	// limits of its own but follows the servers: their cool-downs (429 or
	// 503 with Retry-After), and a pace for each host that throttled or
	// announced its quota.
	RateLimit RateLimitOptions
	// Headers configures the Headers layer.
	Headers HeaderOptions
	// Timeout bounds a call until its response headers arrive, retries
	// and their waits included; a call that meets it fails with an error
	// that matches ErrResponseTimeout. It is TimeoutOptions.Response of
	// the Timeouts layer, which a chain stacked with Chain can have too.
	// It does not bound the response body, which BodyStallTimeout watches
	// instead. 0 means DefaultClientTimeout; a negative value means none.
	// (The client's http.Client.Timeout is left at 0: it would cut a
	// download that is still arriving. Set it on the returned client to
	// bound whole calls, bodies included.) docs/timeouts.md tells every
	// timeout apart.
	Timeout time.Duration
	// Trace observes every call through the client, as though each call's
	// context carried it (WithTrace), at no cost per call: the layers are
	// given it when the chain is built. A Trace in a call's context is told
	// of its events too. With Hedge on, it goes into each call's context
	// after all, above Hedge, which passes its attempts' events on one at a
	// time. rtotel's Instrumentation.Trace is one.
	Trace *Trace
	// BodyStallTimeout bounds how long a Read of a response body may wait
	// without a byte; such a Read fails with an error that matches
	// ErrBodyStalled (TimeoutOptions.BodyStall of the Timeouts layer).
	// Time between Reads, which is the caller's, does not count. A stalled
	// Read is ended by cancelling the call's context when Timeout is set,
	// or else by closing the body, which net/http's transports allow while
	// a Read waits (a Base of your own must too). 0 means
	// DefaultBodyStallTimeout; a negative value means none.
	BodyStallTimeout time.Duration
}

// NewClient returns an *http.Client over the default chain, quiet (no
// logging), with DefaultClientTimeout for each call's response to begin and
// DefaultBodyStallTimeout for its body to move (a slow download that keeps
// moving is never cut):
//
//	Retry            RetryPolicy{} defaults: 3 retries, full jitter, Retry-After, a retry budget
//	Breaker          BreakerOptions{} defaults: a circuit per host
//	RateLimit        servers' cool-downs (429/503 with Retry-After), pacing of hosts that throttle or announce quotas
//	base             DefaultPooledTransport(): cleanhttp's, pooling 256 idle connections per host
//
// It never duplicates an effect on a server that ignores Idempotency-Key: it
// generates no keys, so a POST or PATCH is retried only when the caller set
// a key or when it provably never reached the server. For servers that honour
// keys, NewClientWith(ClientOptions{IdempotencyKeys: true}) adds one to every
// POST and PATCH, which makes them retryable.
func NewClient() *http.Client {
	return NewClientWith(ClientOptions{})
}

// NewClientWith returns an *http.Client over the default chain as o
// configures it, in this order, outermost first: Logging, Timeouts,
// IdempotencyKeys, Hedge, Retry, Breaker, Limit, RateLimit, Headers,
// o.Base; a layer with nothing to do is left out (see ClientOptions).
func NewClientWith(o ClientOptions) *http.Client {
	var mws []Middleware
	if l := o.Log.Logger; l != nil {
		mws = append(mws, Logging(o.Log))
		if hook := o.Breaker.OnStateChange; hook != nil {
			logChange := LogBreakerChanges(l)
			o.Breaker.OnStateChange = func(host string, from, to BreakerState) {
				hook(host, from, to)
				logChange(host, from, to)
			}
		} else {
			o.Breaker.OnStateChange = LogBreakerChanges(l)
		}
	}
	chain := o.Trace // for the layers below Hedge, unless Hedge is on
	if chain != nil && o.Hedge.Delay > 0 {
		mws = append(mws, traced(chain))
		chain = nil
	}
	mws = append(mws, Timeouts(TimeoutOptions{Response: o.Timeout, BodyStall: o.BodyStallTimeout}))
	if o.IdempotencyKeys {
		mws = append(mws, IdempotencyKeys())
	}
	if o.Hedge.Delay > 0 {
		if o.Hedge.Hosts == nil {
			o.Hedge.Hosts = o.Retry.Hosts
		}
		mws = append(mws, Hedge(o.Hedge))
	}
	// One table of hosts for the budget, the circuits and the rate state,
	// when their bounds agree (they do by default).
	var budgets hostView[hostBudget]
	var circuits hostView[circuit]
	var rates hostView[hostState]
	if max := cmp.Or(o.Retry.Budget.MaxHosts, DefaultMaxHosts); max == cmp.Or(o.Breaker.MaxHosts, DefaultMaxHosts) &&
		max == cmp.Or(o.RateLimit.MaxHosts, DefaultMaxHosts) && max > 0 {
		shared := newSharedHosts(max)
		budgets = view(shared, func(s *hostSlots) *slot[hostBudget] { return &s.budget })
		circuits = view(shared, func(s *hostSlots) *slot[circuit] { return &s.circuit })
		rates = view(shared, func(s *hostSlots) *slot[hostState] { return &s.rate })
	}
	mws = append(mws, retryWith(o.Retry, budgets, chain), breakerWith(o.Breaker, circuits), Limit(o.Limit), rateLimitWith(o.RateLimit, rates, chain), Headers(o.Headers))
	return &http.Client{Transport: Chain(o.Base, mws...)}
}

// One entry per host for the layers of a chain: the retry budget, the
// circuit and the rate state of a host sit side by side in one hostSlots,
// so that NewClientWith's chain keeps one table, not three. A host new to
// the chain then costs one entry and one eviction, not one in each layer
// (100,000 hosts round-robin: 11 allocations a call, 1 now). A layer
// built alone keeps a table of its own slots (ownHosts).

// hostSlots is one host's state for each layer that keeps some. Each slot is
// set up by its layer on first use.
type hostSlots struct {
	budget  slot[hostBudget]
	circuit slot[circuit]
	rate    slot[hostState]
}

// idle reports whether forgetting s loses nothing that matters: each slot
// in use is idle as its layer says.
func (s *hostSlots) idle() bool {
	return (!s.circuit.ready() || s.circuit.v.idle()) && (!s.rate.ready() || s.rate.v.idle())
}

// sharedHosts is a table of hostSlots, shared by the layers of one chain.
type sharedHosts struct{ t *hostTable[hostSlots] }

// newSharedHosts returns a table of up to max hosts' entries.
func newSharedHosts(max int) sharedHosts {
	return sharedHosts{newHostTable(max, (*hostSlots).idle)}
}

// view returns the view of a layer whose slot of an entry pick returns.
func view[T any](s sharedHosts, pick func(*hostSlots) *slot[T]) hostView[T] {
	return hostView[T]{
		lookup: func(host string) *slot[T] { return pick(s.t.get(host)) },
		size:   s.t.len,
		table:  s.t,
		ref:    func(host string) hostRef { return s.t.get(host) },
		in:     func(r hostRef) *slot[T] { return pick(r.(*hostSlots)) },
	}
}

// traced returns a middleware that puts tr in each call's context.
func traced(tr *Trace) Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return &tracedTransport{next: wrapped("Trace", next), trace: tr}
	}
}

type tracedTransport struct {
	next  http.RoundTripper
	trace *Trace
}

func (t *tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(req.WithContext(WithTrace(req.Context(), t.trace)))
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *tracedTransport) CloseIdleConnections() { closeIdle(t.next) }
