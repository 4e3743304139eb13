package transport

import (
	"log/slog"
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
// means a fresh DefaultPooledTransport(). Chain panics if any
// middleware is nil, or returns a nil RoundTripper, so that a mistake is
// found when the client is built rather than on its first request.
func Chain(base http.RoundTripper, mws ...Middleware) http.RoundTripper {
	if base == nil {
		base = DefaultPooledTransport()
	}
	rt := base
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] == nil {
			panic("transport: Chain: nil Middleware")
		}
		rt = mws[i](rt)
		if rt == nil {
			panic("transport: Chain: Middleware returned a nil RoundTripper")
		}
	}
	return rt
}

// closeIdle forwards CloseIdleConnections to rt when it has the method, as
// http.Client.CloseIdleConnections does, so that the call reaches the base
// through every layer of a chain.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// DefaultClientTimeout bounds a whole call of NewClient's client, retries
// and waits included.
const DefaultClientTimeout = 30 * time.Second

// ClientOptions configures NewClientWith. Its zero value is NewClient's
// default chain.
type ClientOptions struct {
	// Base is the RoundTripper at the bottom of the chain. nil means
	// DefaultPooledTransport().
	Base http.RoundTripper
	// Logger turns logging on (see Logging). nil means no logging at all:
	// the client is quiet by default.
	Logger *slog.Logger
	// LogHeaders and Redact are passed to LoggingWith when Logger is set.
	LogHeaders bool
	Redact     []string
	// Retry configures the Retry layer.
	Retry RetryPolicy
	// Breaker configures the Breaker layer. nil means BreakerOptions{}.
	Breaker *BreakerOptions
	// NoBreaker leaves out the Breaker layer.
	NoBreaker bool
	// RateLimit configures the RateLimit layer. nil means no limits but the
	// servers' cool-downs (429 or 503 with Retry-After).
	RateLimit *RateLimitOptions
	// Headers configures the Headers layer; it is left out when empty.
	Headers HeaderOptions
	// IdempotencyKeys adds the IdempotencyKeys layer: each POST and PATCH
	// without a key gets one, which makes it retryable. Turn it on only for
	// servers known to honour Idempotency-Key (Stripe, Adyen, PayPal, a
	// service behind rtchain's idempotency middleware): against a server
	// that ignores the header, a retried POST can take effect twice. Off,
	// POST and PATCH are retried only when they provably never reached the
	// server, or when the caller set a key.
	IdempotencyKeys bool
	// Timeout is the client's http.Client.Timeout. 0 means
	// DefaultClientTimeout; a negative value means none.
	Timeout time.Duration
}

// NewClient returns an *http.Client over the default chain, quiet (no
// logging), with a DefaultClientTimeout for each call:
//
//	Retry            RetryPolicy{} defaults: 3 retries, full jitter, Retry-After, a retry budget
//	Breaker          BreakerOptions{} defaults: a circuit per host
//	RateLimit        servers' cool-downs (429/503 with Retry-After), per host
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
// configures it, in this order, outermost first: Logging (if o.Logger),
// IdempotencyKeys (if o.IdempotencyKeys), Retry, Breaker, RateLimit,
// Headers (if any), o.Base.
func NewClientWith(o ClientOptions) *http.Client {
	var mws []Middleware
	if o.Logger != nil {
		mws = append(mws, LoggingWith(LogOptions{Logger: o.Logger, LogHeaders: o.LogHeaders, Redact: o.Redact}))
	}
	if o.IdempotencyKeys {
		mws = append(mws, IdempotencyKeys())
	}
	mws = append(mws, Retry(o.Retry))
	if !o.NoBreaker {
		bo := BreakerOptions{}
		if o.Breaker != nil {
			bo = *o.Breaker
		}
		mws = append(mws, Breaker(bo))
	}
	rl := RateLimitOptions{}
	if o.RateLimit != nil {
		rl = *o.RateLimit
	}
	if rl.Limiter != nil || rl.PerHost > 0 || !rl.NoCoolDown {
		mws = append(mws, RateLimitWith(rl))
	}
	if len(o.Headers.Static) > 0 || o.Headers.Dynamic != nil || o.Headers.AttemptHeader != "" {
		mws = append(mws, HeadersWith(o.Headers))
	}
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultClientTimeout
	case timeout < 0:
		timeout = 0
	}
	return &http.Client{Transport: Chain(o.Base, mws...), Timeout: timeout}
}
