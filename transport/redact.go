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
var sensitiveNames = []string{"sig", "pwd", "pw", "pass", "code"}

// redactor decides what is secret, from the defaults and the names a user
// adds. It is built once per middleware and read-only afterwards.
type redactor struct {
	extra []string                 // lower-cased names the user asked to redact
	path  func(path string) string // the user's own rule for paths; nil for none
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
// secret query parameters replaced, and the secrets it removed, in every
// form they may take in other logged strings (raw, decoded, re-encoded), so
// that those can be scrubbed too.
func (r *redactor) url(u *url.URL) (string, []string) {
	if u == nil {
		return "", nil
	}
	var secrets []string
	c := *u
	if p, ps := r.pathOf(u.EscapedPath()); len(ps) > 0 {
		secrets = append(secrets, ps...)
		c.Path, c.RawPath = p, "" // as it is, should it not unescape
		if dp, err := url.PathUnescape(p); err == nil {
			c.Path, c.RawPath = dp, p
		}
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" && len(secrets) == 0 {
		return u.String(), nil
	}
	if u.User != nil {
		secrets = append(secrets, forms(u.User.Username())...)
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, forms(p)...)
		}
		// The userinfo as String writes it, escaped its own way.
		name, pass, _ := strings.Cut(u.User.String(), ":")
		secrets = append(secrets, name, pass)
		c.User = url.User(Redacted)
	}
	if u.Fragment != "" {
		secrets = append(secrets, u.RawFragment, u.EscapedFragment())
		secrets = append(secrets, forms(u.Fragment)...)
		c.Fragment, c.RawFragment = Redacted, ""
	}
	if u.RawQuery != "" {
		var qs []string
		c.RawQuery, qs = r.query(u.RawQuery)
		secrets = append(secrets, qs...)
	}
	return c.String(), longestFirst(secrets)
}

// pathOf returns the escaped path p with its secrets replaced, and the
// secrets in all their forms: the value of a path parameter with a secret
// name (";jsessionid=..."), a bot token ("/bot123456:AAH..." as Telegram's
// API has it), and whatever the user's rule (LogOptions.RedactPath) takes
// out.
func (r *redactor) pathOf(p string) (string, []string) {
	if r.path == nil && !strings.Contains(p, ";") && !strings.Contains(p, "/bot") {
		return p, nil // the common case: nothing to look at, nothing allocated
	}
	var secrets []string
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if rest, ok := strings.CutPrefix(seg, "bot"); ok {
			if id, token, ok := strings.Cut(rest, ":"); ok && id != "" && strings.Trim(id, "0123456789") == "" && token != "" {
				secrets = append(secrets, token)
				secrets = append(secrets, unescapedForms(token)...)
				seg = "bot" + id + ":" + Redacted
			}
		}
		if name, params, ok := strings.Cut(seg, ";"); ok {
			kept, ps := r.query(params)
			secrets = append(secrets, ps...)
			seg = name + ";" + kept
		}
		segs[i] = seg
	}
	out := strings.Join(segs, "/")
	if r.path != nil {
		if own := r.path(out); own != out {
			// What the rule removed is not known piece by piece: the
			// segments it changed are the secrets.
			was, now := strings.Split(out, "/"), strings.Split(own, "/")
			for i, seg := range was {
				if i >= len(now) || now[i] != seg {
					secrets = append(secrets, seg)
					secrets = append(secrets, unescapedForms(seg)...)
				}
			}
			out = own
		}
	}
	return out, secrets
}

// longestFirst sorts secrets for scrub: longer ones go first, so that no
// part of one survives the removal of another that it contains.
func longestFirst(secrets []string) []string {
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return secrets
}

// query returns raw with the value of every secret parameter replaced, and
// everything else left byte for byte, malformed pairs included (they are
// passed on to the server as they are, so they may be quoted as they are).
// Pairs are split at '&' and at ';', which some servers also take as a
// separator. It returns the values it removed, in all their forms.
func (r *redactor) query(raw string) (string, []string) {
	var out strings.Builder
	out.Grow(len(raw))
	var secrets []string
	for rest := raw; ; {
		i := strings.IndexAny(rest, "&;")
		pair := rest
		if i >= 0 {
			pair = rest[:i]
		}
		name, value, _ := strings.Cut(pair, "=")
		decoded, err := url.QueryUnescape(name)
		if err != nil {
			decoded = name
		}
		if value != "" && r.secret(decoded) {
			secrets = append(secrets, value)
			secrets = append(secrets, unescapedForms(value)...)
			out.WriteString(name)
			out.WriteString("=" + Redacted)
		} else {
			out.WriteString(pair)
		}
		if i < 0 {
			break
		}
		out.WriteByte(rest[i])
		rest = rest[i+1:]
	}
	return out.String(), secrets
}

// unescapedForms returns the forms of a raw query value once decoded, both
// ways a server may decode it ('+' as a space or not), and re-encoded.
func unescapedForms(raw string) []string {
	var out []string
	if v, err := url.QueryUnescape(raw); err == nil {
		out = append(out, forms(v)...)
	}
	if v, err := url.PathUnescape(raw); err == nil {
		out = append(out, forms(v)...)
	}
	return out
}

// forms returns v and the ways net/url encodes it.
func forms(v string) []string {
	return []string{v, url.QueryEscape(v), url.PathEscape(v)}
}

// header returns h's fields with the values of secret ones replaced, as a
// flat list of name, value pairs sorted by name. Other values have the
// call's URL secrets scrubbed out, and a value that is itself a URL (Referer,
// Location) is redacted as one.
func (r *redactor) header(h http.Header, secrets []string) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]string, 0, 2*len(names))
	for _, k := range names {
		v := Redacted
		if !r.secret(k) {
			vs := make([]string, len(h[k]))
			for i, hv := range h[k] {
				vs[i] = r.value(hv, secrets)
			}
			v = strings.Join(vs, ", ")
		}
		out = append(out, k, v)
	}
	return out
}

// value returns a non-secret header value fit to log.
func (r *redactor) value(v string, secrets []string) string {
	if strings.Contains(v, "://") {
		if u, err := url.Parse(strings.TrimSpace(v)); err == nil && u.Scheme != "" {
			s, more := r.url(u)
			return scrub(s, longestFirst(append(slices.Clone(secrets), more...)))
		}
	}
	return scrub(v, secrets)
}

// scrub removes secrets, sorted longest first (as url returns them), from s,
// a string that may quote the URL (an error message, a header).
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// RedactURL returns u as Logging prints it (userinfo, fragment and the
// values of secret query parameters replaced by Redacted, by the default
// rules plus names), and a function that removes u's secrets, in every
// encoding, from another string: an error message or a header that quotes
// the URL. It is for output that Logging does not write, such as a report;
// for the error of a call, which quotes its URL, RedactError does the whole.
func RedactURL(u *url.URL, names ...string) (redacted string, scrubbed func(string) string) {
	s, secrets := newRedactor(names).url(u)
	return s, func(v string) string { return scrub(v, secrets) }
}
