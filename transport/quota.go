package transport

import (
	"net/http"
	"strings"
	"time"
)

// Quota is what a server announced about its rate limit in a response's
// header fields, as ParseQuota reads it.
type Quota struct {
	// Remaining is how many requests the server will still take before
	// Reset.
	Remaining int64
	// Reset is how long until the quota is restored; 0 when not announced.
	Reset time.Duration
	// Limit and Window are the server's policy: Limit requests per Window.
	// Both are 0 when not announced.
	Limit  int64
	Window time.Duration
}

// maxQuotaValue bounds every number a quota field may carry: far above any
// real quota, far below an overflow when turned into a duration.
const maxQuotaValue = 1 << 40

// epochThreshold tells a reset given as a Unix time (GitHub's
// X-RateLimit-Reset) from one given in seconds: no window lasts 30 years.
const epochThreshold = 1_000_000_000

// ParseQuota reads a server's rate limit from h, measured from now, in the
// first of these forms that is present and valid:
//
//   - the IETF httpapi draft's structured fields, RateLimit
//     (`"default";r=50;t=30`: r remaining, t seconds to reset) and
//     RateLimit-Policy (`"default";q=100;w=60`: q requests per w seconds);
//     with several policies, the most restrictive counts;
//   - the earlier drafts' RateLimit-Remaining and RateLimit-Reset;
//   - X-RateLimit-Remaining and X-RateLimit-Reset (seconds, or a Unix time
//     as GitHub sends it).
//
// The last two forms name no policy (their -Limit fields give no window),
// so Limit and Window stay 0.
//
// ok is false when no form has a valid remaining count. Malformed values are
// ignored, never guessed at; numbers saturate rather than overflow; a reset
// in the past counts as none.
func ParseQuota(h http.Header, now time.Time) (q Quota, ok bool) {
	if q, ok = parseQuotaFields(h.Get("RateLimit"), h.Get("RateLimit-Policy")); ok {
		return q, true
	}
	for _, prefix := range [...]string{"RateLimit-", "X-RateLimit-"} {
		r, okR := parseQuotaInt(h.Get(prefix + "Remaining"))
		if !okR {
			continue
		}
		q = Quota{Remaining: r}
		if reset, ok := parseQuotaInt(h.Get(prefix + "Reset")); ok {
			if reset >= epochThreshold {
				q.Reset = max(time.Unix(reset, 0).Sub(now), 0)
			} else {
				q.Reset = seconds(reset)
			}
		}
		// Their Limit names no window, and is no rate: a fixed window
		// (GitHub's hour) is spread from what remains until the reset.
		return q, true
	}
	return Quota{}, false
}

// hasQuotaFields reports whether h has any of the fields ParseQuota reads
// a remaining count from: the cheap test a response without them passes.
func hasQuotaFields(h http.Header) bool {
	if len(h) == 0 {
		return false
	}
	for _, k := range [...]string{"Ratelimit", "Ratelimit-Remaining", "X-Ratelimit-Remaining"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// parseQuotaFields reads the structured RateLimit and RateLimit-Policy
// fields. Of several quotas the one with the fewest requests left counts; of
// several policies the one with the lowest rate.
func parseQuotaFields(limit, policy string) (q Quota, ok bool) {
	for _, item := range sfItems(limit) {
		r, okR := item["r"]
		if !okR {
			continue
		}
		t := item["t"]
		if !ok || r < q.Remaining {
			q.Remaining, q.Reset, ok = r, seconds(t), true
		}
	}
	if !ok {
		return Quota{}, false
	}
	for _, item := range sfItems(policy) {
		n, w := item["q"], item["w"]
		if n <= 0 || w <= 0 {
			continue
		}
		if q.Limit == 0 || float64(n)/float64(w) < float64(q.Limit)/q.Window.Seconds() {
			q.Limit, q.Window = n, seconds(w)
		}
	}
	return q, true
}

// sfItems splits a structured-field list (RFC 9651) into its items'
// integer parameters, the only part of a quota field that matters here.
// An item that is not well formed is left out whole.
func sfItems(v string) []map[string]int64 {
	var items []map[string]int64
	for _, member := range splitOutsideQuotes(v, ',') {
		params := splitOutsideQuotes(member, ';')
		if len(params) == 0 || strings.TrimSpace(params[0]) == "" {
			continue
		}
		item := map[string]int64{}
		valid := true
		for _, p := range params[1:] {
			key, val, found := strings.Cut(strings.TrimSpace(p), "=")
			n, okN := parseQuotaInt(val)
			if !found || key == "" || !okN {
				valid = false
				break
			}
			item[key] = n
		}
		if valid {
			items = append(items, item)
		}
	}
	return items
}

// splitOutsideQuotes splits v at sep where sep is not inside a quoted
// string. An unterminated quote makes the rest one part.
func splitOutsideQuotes(v string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	if strings.TrimSpace(v[start:]) != "" || len(parts) > 0 {
		parts = append(parts, v[start:])
	}
	return parts
}

// seconds converts a count of seconds from a quota field to a duration,
// saturating where Retry-After does, far below an overflow.
func seconds(n int64) time.Duration {
	return time.Duration(min(n, maxRetryAfterSeconds)) * time.Second
}

// parseQuotaInt parses a non-negative decimal integer, surrounded by
// optional white space, saturating at maxQuotaValue.
func parseQuotaInt(v string) (int64, bool) {
	return parseDigits(strings.TrimSpace(v), maxQuotaValue)
}
