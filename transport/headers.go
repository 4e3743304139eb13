package transport

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// HeaderOptions configures Headers. Its zero value sets nothing.
type HeaderOptions struct {
	// Static fields are set on each attempt that does not already have them
	// (User-Agent, an API version, ...).
	Static http.Header
	// Dynamic, when set, is called for each attempt and its fields are set
	// the same way: for credentials that rotate, it is asked again on every
	// retry. An error ends the attempt with that error, wrapped.
	Dynamic func(*http.Request) (http.Header, error)
	// AttemptHeader, when set, names a header that carries the attempt
	// number (1, 2, ...) so that servers can see retries, e.g. "Retry-Attempt".
	// It is always set, whatever the request had.
	AttemptHeader string
	// Hosts lists other hosts (host or host:port) that Static's and
	// Dynamic's fields are meant for, besides the one each call was
	// addressed to. A redirect to any other host gets none of them: a
	// credential belongs to the host it was given for (http.Client drops
	// Authorization on such a redirect; this layer must not put it back).
	Hosts []string
}

// Headers returns a middleware that sets the fields of o on each request
// that does not already have them: static ones, dynamic ones asked for on
// every request, and the attempt number. Inside Retry it runs once per
// attempt. The caller's request is never modified: a request that needs
// fields is copied. Options that set nothing leave the chain as it is.
// It is safe for concurrent use if o.Dynamic is.
func Headers(o HeaderOptions) Middleware {
	static := make(http.Header, len(o.Static))
	for k, vs := range o.Static {
		// A copy of our own, clipped: each request shares it (setMissing),
		// and an Add below appends to a new array, never into this one.
		static[http.CanonicalHeaderKey(k)] = slices.Clip(append([]string(nil), vs...))
	}
	o.Static = static
	if o.AttemptHeader != "" {
		o.AttemptHeader = http.CanonicalHeaderKey(o.AttemptHeader)
	}
	empty := len(o.Static) == 0 && o.Dynamic == nil && o.AttemptHeader == ""
	return func(next http.RoundTripper) http.RoundTripper {
		next = wrapped("Headers", next)
		if empty {
			return next
		}
		return &headerTransport{next: next, o: o}
	}
}

type headerTransport struct {
	next http.RoundTripper
	o    HeaderOptions
}

var _ http.RoundTripper = (*headerTransport)(nil)

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.foreign(req) {
		if t.o.AttemptHeader == "" {
			return t.next.RoundTrip(req)
		}
		r := withHeaderRoom(req, 1)
		r.Header.Set(t.o.AttemptHeader, strconv.Itoa(AttemptFromContext(req.Context())))
		return t.next.RoundTrip(r)
	}
	var dynamic http.Header
	if t.o.Dynamic != nil {
		var err error
		if dynamic, err = t.o.Dynamic(req); err != nil {
			closeRequestBody(req)
			return nil, fmt.Errorf("transport: Headers: %w", err)
		}
	}
	if t.o.AttemptHeader == "" && !missing(req.Header, t.o.Static) && !missing(req.Header, dynamic) {
		return t.next.RoundTrip(req)
	}
	extra := len(t.o.Static) + len(dynamic)
	if t.o.AttemptHeader != "" {
		extra++
	}
	r := withHeaderRoom(req, extra)
	setMissing(r.Header, t.o.Static)
	setMissing(r.Header, dynamic)
	if t.o.AttemptHeader != "" {
		r.Header.Set(t.o.AttemptHeader, strconv.Itoa(AttemptFromContext(req.Context())))
	}
	return t.next.RoundTrip(r)
}

// foreign reports whether req is a redirect to a host that the fields were
// not meant for: neither the host the call was first addressed to nor one
// of o.Hosts.
func (t *headerTransport) foreign(req *http.Request) bool {
	if req.Response == nil || req.URL == nil {
		return false // not a redirect
	}
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if first.URL == nil || strings.EqualFold(first.URL.Host, req.URL.Host) {
		return false
	}
	return !slices.ContainsFunc(t.o.Hosts, func(h string) bool { return strings.EqualFold(h, req.URL.Host) })
}

// missing reports whether h lacks any field of add.
func missing(h, add http.Header) bool {
	for k := range add {
		if _, ok := h[http.CanonicalHeaderKey(k)]; !ok {
			return true
		}
	}
	return false
}

// setMissing sets in h the fields of add that h lacks, sharing add's
// values, clipped (an append to them makes a new array); the headers of a
// request are read, and replaced or appended to, but not written into in
// place, by net/http and by this module.
func setMissing(h, add http.Header) {
	for k, vs := range add {
		k = http.CanonicalHeaderKey(k)
		if _, ok := h[k]; !ok {
			h[k] = slices.Clip(vs)
		}
	}
}

// IdempotencyKeys returns a middleware that gives each POST and PATCH that
// has neither an Idempotency-Key nor an X-Idempotency-Key header a fresh
// random key (a UUID from crypto/rand). Placed outside Retry, it makes every
// attempt of a call carry the same key, which makes the call safe to retry
// against a server that honours the key. Other methods, and keys the caller
// set, are left alone. It is safe for concurrent use.
func IdempotencyKeys() Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		next = wrapped("IdempotencyKeys", next)
		return &keysTransport{next: next}
	}
}

type keysTransport struct{ next http.RoundTripper }

var _ http.RoundTripper = (*keysTransport)(nil)

func (t *keysTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Method != http.MethodPost && req.Method != http.MethodPatch) || HasIdempotencyKey(req.Header) {
		return t.next.RoundTrip(req)
	}
	r := withHeader(req)
	r.Header.Set("Idempotency-Key", newUUID())
	return t.next.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *keysTransport) CloseIdleConnections() { closeIdle(t.next) }

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand, Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *headerTransport) CloseIdleConnections() { closeIdle(t.next) }
