package transport

import "net/http"

// Request and response helpers shared by the middlewares.

// withHeader returns a shallow copy of req with a header of its own: the
// cheapest copy that lets a middleware set fields without touching the
// caller's request.
func withHeader(req *http.Request) *http.Request {
	r := new(http.Request)
	*r = *req
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	return r
}

// closeRequestBody closes req's body: a RoundTripper's duty on every path,
// refusals included.
func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// closeBody closes a response's body, if there is one.
func closeBody(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
}
