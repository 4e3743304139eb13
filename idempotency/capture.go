package idempotency

import (
	"bytes"
	"net/http"
)

// capture is the ResponseWriter the handler of a first request writes to:
// everything goes straight to the client, and the status, the header fields
// and up to max bytes of the body are kept for the store.
type capture struct {
	w      http.ResponseWriter
	max    int64
	status int
	header http.Header
	body   bytes.Buffer
	over   bool // the body passed max: it is not kept
}

var (
	_ http.ResponseWriter = (*capture)(nil)
	_ http.Flusher        = (*capture)(nil)
)

func (c *capture) Header() http.Header { return c.w.Header() }

func (c *capture) WriteHeader(code int) {
	if c.status != 0 {
		return // the ResponseWriter ignores it too (and logs it)
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		c.w.WriteHeader(code) // informational: the final answer comes later
		return
	}
	c.status = code
	c.header = c.w.Header().Clone()
	c.w.WriteHeader(code)
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if !c.over {
		if int64(c.body.Len()+len(p)) > c.max {
			c.over = true
			c.body = bytes.Buffer{}
		} else {
			c.body.Write(p)
		}
	}
	return c.w.Write(p)
}

// Flush sends what was written so far, when the ResponseWriter can.
func (c *capture) Flush() {
	_ = http.NewResponseController(c.w).Flush()
}

// Unwrap lets http.ResponseController reach the ResponseWriter's other
// features (deadlines, hijacking, full duplex).
func (c *capture) Unwrap() http.ResponseWriter { return c.w }

// response is what the handler answered, for the store.
func (c *capture) response() *Response {
	if c.status == 0 { // the handler wrote nothing: net/http answers 200
		c.status, c.header = http.StatusOK, c.w.Header().Clone()
	}
	if c.over {
		return &Response{Status: c.status, NotStored: true}
	}
	return &Response{Status: c.status, Header: c.header, Body: bytes.Clone(c.body.Bytes())}
}
