package transport

import "net/http"

// Request and response helpers shared by the middlewares.

// withHeader returns a shallow copy of req with a header of its own: the
// cheapest copy that lets a middleware set fields without touching the
// caller's request.
func withHeader(req *http.Request) *http.Request { return withHeaderRoom(req, 0) }

// withHeaderRoom is withHeader with room in the copied map for extra more
// fields, so that setting them does not grow it. The copy costs the request
// and its map: the values of a request's fields (up to smallValues of them,
// most requests' count) share the request's allocation.
func withHeaderRoom(req *http.Request, extra int) *http.Request {
	nv := 0
	for _, vs := range req.Header {
		nv += len(vs)
	}
	var r *http.Request
	var all []string // one array for every value, as http.Header.Clone does
	if nv <= smallValues {
		c := new(requestCopy)
		r, all = &c.req, c.values[:0:nv]
	} else {
		r, all = new(http.Request), make([]string, 0, nv)
	}
	*r = *req
	h := make(http.Header, len(req.Header)+extra)
	for k, vs := range req.Header {
		if vs == nil {
			h[k] = nil
			continue
		}
		all = append(all, vs...)
		h[k] = all[len(all)-len(vs) : len(all) : len(all)]
	}
	r.Header = h
	return r
}

// smallValues is how many header values a copy of a request holds in its
// own allocation.
const smallValues = 8

// requestCopy is a request and the values of its fields, in one
// allocation.
type requestCopy struct {
	req    http.Request
	values [smallValues]string
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
