package transport

import (
	"net/http"

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

// Chain wraps base with mws and returns the result. The first middleware is
// the outermost: it sees each call first and its response last. A nil base
// means a fresh cleanhttp.DefaultPooledTransport(). Chain panics if any
// middleware is nil, or returns a nil RoundTripper, so that a mistake is
// found when the client is built rather than on its first request.
func Chain(base http.RoundTripper, mws ...Middleware) http.RoundTripper {
	if base == nil {
		base = cleanhttp.DefaultPooledTransport()
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
