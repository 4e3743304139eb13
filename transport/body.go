package transport

import "net/http"

// Request and response helpers shared by the middlewares.

// withHeader returns a shallow copy of req with a header of its own: the
// cheapest copy that lets a middleware set fields without touching the
// caller's request.
func withHeader(req *http.Request) *http.Request { return withHeaderRoom(req, 0) }

// withHeaderRoom is withHeader with room in the copied map for extra more
// fields, so that setting them does not grow it.
func withHeaderRoom(req *http.Request, extra int) *http.Request {
	r := new(http.Request)
	*r = *req
	h := make(http.Header, len(req.Header)+extra)
	if n := len(req.Header); n > 0 {
		// One array for every value, as http.Header.Clone does.
		nv := 0
		for _, vs := range req.Header {
			nv += len(vs)
		}
		all := make([]string, 0, nv)
		for k, vs := range req.Header {
			if vs == nil {
				h[k] = nil
				continue
			}
			all = append(all, vs...)
			h[k] = all[len(all)-len(vs) : len(all) : len(all)]
		}
	}
	r.Header = h
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
