package httptestutil

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// A step is an http.Handler: any handler of yours can be a step too. The
// steps below read the whole request body before they answer (so that it is
// recorded), unless their doc says otherwise.

// Respond answers with code, the given header fields, and body.
func Respond(code int, header http.Header, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, vs := range header {
			w.Header()[k] = append([]string(nil), vs...)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	})
}

// OK answers 200 with body.
func OK(body string) http.Handler { return Respond(http.StatusOK, nil, body) }

// Status answers code with the status text as body.
func Status(code int) http.Handler {
	return Respond(code, nil, http.StatusText(code))
}

// RetryAfter answers code with a Retry-After header of value v, verbatim
// (seconds, an HTTP-date, or garbage for tests of bad input).
func RetryAfter(code int, v string) http.Handler {
	return Respond(code, http.Header{"Retry-After": {v}}, http.StatusText(code))
}

// RetryAfterSeconds answers code with Retry-After: secs.
func RetryAfterSeconds(code, secs int) http.Handler {
	return RetryAfter(code, strconv.Itoa(secs))
}

// RetryAfterDate answers code with Retry-After as an HTTP-date (IMF-fixdate)
// and a Date header of now, so that clients that honour the server's clock
// wait exactly until t.
func RetryAfterDate(code int, t time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		RetryAfter(code, t.UTC().Format(http.TimeFormat)).ServeHTTP(w, r)
	})
}

// TooManyRequests answers 429 with Retry-After: secs.
func TooManyRequests(secs int) http.Handler {
	return RetryAfterSeconds(http.StatusTooManyRequests, secs)
}

// Unavailable answers 503 with Retry-After: secs.
func Unavailable(secs int) http.Handler {
	return RetryAfterSeconds(http.StatusServiceUnavailable, secs)
}

// Delay waits d before handing the request to next, or returns without an
// answer if the client goes away first.
func Delay(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
			next.ServeHTTP(w, r)
		}
	})
}

// Hang reads the request body and never answers: it returns when the client
// gives up (or the server closes). The body is read because net/http's
// server only notices a client leaving once the body has been read.
func Hang() http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
}

// Reset drops the connection with a TCP RST and no response: the client
// sees "connection reset by peer". It does not read the request body.
func Reset() http.Handler {
	return hijack(func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	})
}

// CloseConn closes the connection without a response: the client sees EOF.
// It does not read the request body.
func CloseConn() http.Handler { return hijack(func(net.Conn) {}) }

func hijack(before func(net.Conn)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		dropConn(w, before)
	})
}

// dropConn takes the connection from net/http, calls before on it, and
// closes it. Over HTTP/2, which cannot hijack, it aborts the stream instead.
func dropConn(w http.ResponseWriter, before func(net.Conn)) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	before(c)
	_ = c.Close()
}

// StallBody sends code's headers and the first part of a body, then sends
// nothing more until the client gives up.
func StallBody(code int, first string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, first)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
}

// CutBody announces a body of length bytes with Content-Length, sends only
// sent of it, and closes the connection: the client's read of the body
// ends with io.ErrUnexpectedEOF.
func CutBody(code, length int, sent string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", strconv.Itoa(length))
		w.WriteHeader(code)
		_, _ = io.WriteString(w, sent)
		_ = http.NewResponseController(w).Flush() // the part that is sent must reach the client
		dropConn(w, func(net.Conn) {})
	})
}

// ReadThen reads the first n bytes of the request body (fewer if it ends
// first), then hands the request to next, which sees an empty body: the rest
// is left unread, as by a server that answers before the upload ends.
func ReadThen(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.CopyN(io.Discard, r.Body, n)
		r2 := r.WithContext(r.Context())
		r2.Body = http.NoBody
		next.ServeHTTP(w, r2)
	})
}

// Drip answers code and sends body one byte every interval, flushing each,
// until it is sent or the client goes away.
func Drip(code int, body string, interval time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(code)
		drip(w, r, body, interval, false)
	})
}

// Endless answers code and sends chunk every interval, flushing each, until
// the client goes away: an error body that never ends.
func Endless(code int, chunk string, interval time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(code)
		drip(w, r, chunk, interval, true)
	})
}

func drip(w http.ResponseWriter, r *http.Request, s string, interval time.Duration, forever bool) {
	rc := http.NewResponseController(w)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; forever || i < len(s); i++ {
		piece := s
		if !forever {
			piece = s[i : i+1]
		}
		if _, err := io.WriteString(w, piece); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
