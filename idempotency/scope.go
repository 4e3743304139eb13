package idempotency

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
)

// credentialHeaders are the request header fields CallerScope reads as the
// caller's credentials.
var credentialHeaders = [...]string{"Authorization", "Cookie", "X-Api-Key"}

// CallerScope returns a Scope that names each request's caller by the
// credentials it presents: the Authorization, Cookie and X-Api-Key header
// fields, as sent, and the client certificate of a TLS connection. Two
// requests share a scope only if they carry the same credentials, so that
// a key's stored answer is
// replayed only to the caller who caused it, and a caller cannot take
// another's key. It is what Options.Scope nil means, with a nil secret.
//
// The scope is a hash, never the credential itself: SHA-256, or
// HMAC-SHA256 with secret when it is set. The store holds the hash, so a
// password sent with Basic authentication could be guessed from a copy of
// the store without the secret; give every instance that shares a store
// the same secret, or they will not recognise each other's keys.
//
// A request with none of these credentials has the empty scope, shared by
// every anonymous caller. A caller whose credentials change between a
// request and its retry (an OAuth token refreshed in between, a cookie
// rewritten) is another caller: its retry runs the handler again. So is
// every retry signed anew (AWS Signature V4, Digest, OAuth 1.0a: the
// Authorization field changes with each request). Where credentials
// rotate or are signed per request, or sit elsewhere (a query parameter,
// a header of your own), put the middleware after your authentication and
// scope by the account it found instead.
func CallerScope(secret []byte) func(*http.Request) string {
	return func(r *http.Request) string {
		var stack [512]byte
		parts := stack[:0]
		for _, name := range credentialHeaders {
			for _, v := range r.Header[name] {
				parts = appendPart(appendPart(parts, name), v)
			}
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			parts = appendPart(appendPart(parts, "tls"), r.TLS.PeerCertificates[0].Raw)
		}
		return scopeSum(secret, parts)
	}
}

// OneScope is the Scope that puts every caller in one namespace: a key's
// stored answer goes to whoever sends the key again with the same request.
// Use it only where every caller is the same party (one service calling
// another, behind authentication that admits nobody else).
func OneScope(*http.Request) string { return "" }

// ScopeOf returns the scope that names a caller holding credentials: ""
// when there are none, else a hash of them (HMAC-SHA256 with secret when
// it is set, SHA-256 otherwise), 22 characters of URL-safe base64. It is
// what CallerScope and rtgrpc's caller scope return.
func ScopeOf(secret []byte, credentials ...[]byte) string {
	var stack [512]byte
	parts := stack[:0]
	for _, c := range credentials {
		parts = appendPart(parts, c)
	}
	return scopeSum(secret, parts)
}

// appendPart appends a part of a caller's credentials, framed by its
// length, so that no two lists of parts read the same.
func appendPart[T string | []byte](b []byte, part T) []byte {
	b = strconv.AppendInt(b, int64(len(part)), 10)
	b = append(b, ':')
	return append(b, part...)
}

// scopeSum is the scope of the framed parts: "" for none.
func scopeSum(secret, parts []byte) string {
	if len(parts) == 0 {
		return ""
	}
	var sum [sha256.Size]byte
	if secret != nil {
		h := hmac.New(sha256.New, secret)
		h.Write(parts)
		h.Sum(sum[:0])
	} else {
		sum = sha256.Sum256(append(parts, "\x00rtchain idempotency caller"...))
	}
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
