package rtotel

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/rtchain/rtchain/transport"
)

// Client returns transport.NewClientWith(o)'s client, instrumented: Trace
// as o.Trace (when o has a Trace of its own, Calls outside the whole
// chain instead), otelhttp.NewTransport over o.Base (a client span per
// attempt, in the call's span, with the rtotel providers) and ResendCount
// under it, BreakerStateChange beside o's own OnStateChange, and, when
// o.Limit is enabled without Stats of its own, LimitStats for the gauges
// of the hosts' concurrency limits.
func (i *Instrumentation) Client(o transport.ClientOptions) *http.Client {
	base := o.Base
	if base == nil {
		base = transport.DefaultPooledTransport()
	}
	o.Base = idleCloser{
		RoundTripper: otelhttp.NewTransport(ResendCount()(base),
			otelhttp.WithTracerProvider(i.tp), otelhttp.WithMeterProvider(i.mp)),
		base: base,
	}
	if hook := o.Breaker.OnStateChange; hook != nil {
		o.Breaker.OnStateChange = func(host string, from, to transport.BreakerState) {
			hook(host, from, to)
			i.BreakerStateChange(host, from, to)
		}
	} else {
		o.Breaker.OnStateChange = i.BreakerStateChange
	}
	if o.Limit.Enabled && o.Limit.Stats == nil {
		o.Limit.Stats = &i.limits
	}
	if o.Trace == nil {
		o.Trace = i.Trace()
		return transport.NewClientWith(o)
	}
	c := transport.NewClientWith(o) // o's own Trace, and rtotel's in each call's context
	c.Transport = i.Calls()(c.Transport)
	return c
}

// idleCloser gives an otelhttp transport, which has no
// CloseIdleConnections, the one of the base it wraps, so that
// http.Client.CloseIdleConnections reaches the pool.
type idleCloser struct {
	http.RoundTripper
	base http.RoundTripper
}

// CloseIdleConnections closes the base's idle connections.
func (c idleCloser) CloseIdleConnections() { closeIdle(c.base) }

// closeIdle forwards CloseIdleConnections to rt when it has the method.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
