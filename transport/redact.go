package transport

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Redacted replaces every secret in what Logging prints.
const Redacted = "REDACTED"

// sensitiveWords mark a header or query parameter as secret when its
// lower-cased name contains one of them.
var sensitiveWords = []string{
	"token", "key", "secret", "passw", "signature", "credential", "auth", "session", "cookie", "jwt",
	"verifier", // PKCE's code_verifier
}

// sensitiveNames are short names that are secret only as a whole name.
var sensitiveNames = []string{"sig", "pwd", "code"}

// redactor decides what is secret, from the defaults and the names a user
// adds. It is built once per middleware and read-only afterwards.
type redactor struct {
	extra []string // lower-cased names the user asked to redact
}

func newRedactor(names []string) *redactor {
	r := &redactor{}
	for _, n := range names {
		r.extra = append(r.extra, strings.ToLower(n))
	}
	return r
}

func (r *redactor) secret(name string) bool {
	n := strings.ToLower(name)
	if slices.Contains(r.extra, n) || slices.Contains(sensitiveNames, n) {
		return true
	}
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// url returns u as a string with its userinfo, fragment and the values of
// secret query parameters replaced, and the secrets it removed, so that they
// can be scrubbed from error messages too.
func (r *redactor) url(u *url.URL) (string, []string) {
	if u == nil {
		return "", nil
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return u.String(), nil
	}
	var secrets []string
	c := *u
	if u.User != nil {
		secrets = append(secrets, u.User.Username())
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
		c.User = url.User(Redacted)
	}
	if u.Fragment != "" {
		secrets = append(secrets, u.Fragment, u.EscapedFragment())
		c.Fragment, c.RawFragment = Redacted, ""
	}
	if u.RawQuery != "" {
		// Malformed pairs are dropped by ParseQuery, so they cannot leak.
		q, _ := url.ParseQuery(u.RawQuery)
		for name, vs := range q {
			if !r.secret(name) {
				continue
			}
			for i, v := range vs {
				secrets = append(secrets, v, url.QueryEscape(v))
				vs[i] = Redacted
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String(), secrets
}

// header returns h's fields with the values of secret ones replaced, as a
// flat list of name, value pairs sorted by name.
func (r *redactor) header(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]string, 0, 2*len(names))
	for _, k := range names {
		v := strings.Join(h[k], ", ")
		if r.secret(k) {
			v = Redacted
		}
		out = append(out, k, v)
	}
	return out
}

// scrub removes secrets from s, an error message that may quote the URL.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}
