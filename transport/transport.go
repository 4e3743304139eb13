package transport

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-cleanhttp"
)

// Middleware wraps an http.RoundTripper with one concern (retries, logging,
// headers, ...). It is called once, when the chain is built; whatever it
// prepares there is shared by every request that goes through it.
type Middleware func(http.RoundTripper) http.RoundTripper

// RoundTripperFunc adapts an ordinary function to the http.RoundTripper
// interface. It is handy for tests and for small one-off middleware.
type RoundTripperFunc func(*http.Request) (*http.Response, error)

var _ http.RoundTripper = RoundTripperFunc(nil)

// RoundTrip calls f(req).
func (f RoundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) {
	return f(req)
}

// Pool sizes of DefaultPooledTransport.
const (
	// DefaultMaxIdleConnsPerHost is how many idle connections to one host
	// are kept for reuse. cleanhttp keeps GOMAXPROCS+1 and net/http 2,
	// which makes concurrent callers close and redial: 1,000 GETs, 128 at
	// a time, open about 800 connections with cleanhttp's pool and 130 to
	// 150 with this one (TestPoolOpensNoMoreThanTheConcurrencyNeeds). It is
	// twice the concurrency it serves well, because a call that starts
	// before the previous call's connection is back in the pool dials
	// another.
	DefaultMaxIdleConnsPerHost = 256
	// DefaultMaxIdleConns bounds the idle connections to all hosts.
	DefaultMaxIdleConns = 1024
)

// DefaultPooledTransport returns a new cleanhttp.DefaultPooledTransport()
// (timeouts, HTTP/2, proxy from the environment) whose pool keeps
// DefaultMaxIdleConnsPerHost idle connections per host and
// DefaultMaxIdleConns in all. Chain and NewClient use it when no base is
// given. Idle connections close after the transport's IdleConnTimeout
// (90s).
func DefaultPooledTransport() *http.Transport {
	t := cleanhttp.DefaultPooledTransport()
	t.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	t.MaxIdleConns = DefaultMaxIdleConns
	return t
}

// Chain wraps base with mws and returns the result. The first middleware is
// the outermost: it sees each call first and its response last. A nil base
// means a fresh DefaultPooledTransport(). Just above base, Chain puts the
// clock of RetryPolicy.PerTryTimeout, so that it measures time on the
// network only; a request that no Retry gave a per-try timeout passes it
// untouched. Chain panics if any middleware is nil, or returns a nil
// RoundTripper, so that a mistake is found when the client is built rather
// than on its first request.
func Chain(base http.RoundTripper, mws ...Middleware) http.RoundTripper {
	if base == nil {
		base = DefaultPooledTransport()
	}
	if len(mws) == 0 {
		return base
	}
	var rt http.RoundTripper = &perTryTransport{next: base}
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] == nil {
			panic("transport: Chain: nil Middleware")
		}
		rt = mws[i](link{rt})
		if rt == nil {
			panic("transport: Chain: Middleware returned a nil RoundTripper")
		}
	}
	return unlink(rt)
}

// link is what Chain hands each middleware: the chain below it, marked as
// built by Chain, and so with the per-try clock at its bottom. rtchain's
// own middlewares take the RoundTripper out of it when they are built
// (wrapped); another middleware keeps it, at the cost of one call.
type link struct{ http.RoundTripper }

// CloseIdleConnections closes the idle connections of the chain below.
func (l link) CloseIdleConnections() { closeIdle(l.RoundTripper) }

func unlink(rt http.RoundTripper) http.RoundTripper {
	for {
		l, ok := rt.(link)
		if !ok {
			return rt
		}
		rt = l.RoundTripper
	}
}

// wrapped returns the RoundTripper that the middleware called name wraps,
// out of Chain's link, and panics if there is none.
func wrapped(name string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		panic("transport: " + name + ": nil RoundTripper")
	}
	return unlink(next)
}

// closeIdle forwards CloseIdleConnections to rt when it has the method, as
// http.Client.CloseIdleConnections does, so that the call reaches the base
// through every layer of a chain.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

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
	var shared *hostTable[hostSlots]
	if max := orDefault(o.Retry.Budget.MaxHosts, DefaultMaxHosts); max == orDefault(o.Breaker.MaxHosts, DefaultMaxHosts) &&
		max == orDefault(o.RateLimit.MaxHosts, DefaultMaxHosts) && max > 0 {
		shared = newHostSlots(max)
	}
	mws = append(mws, retryWith(o.Retry, shared), breakerWith(o.Breaker, shared), Limit(o.Limit), rateLimitWith(o.RateLimit, shared), Headers(o.Headers))
	return &http.Client{Transport: Chain(o.Base, mws...)}
}

// orNone returns d, or def when d is 0, or 0 (none) when d is negative.
func orNone(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
