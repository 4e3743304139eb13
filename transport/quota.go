package transport

import (
	"net/http"
	"strconv"
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
	// Capacity is the most requests the quota holds, where the server
	// names it without a window (OpenAI's x-ratelimit-limit-requests,
	// Anthropic's anthropic-ratelimit-requests-limit); 0 when not
	// announced.
	Capacity int64
	// Tokens is the token quota that LLM APIs announce beside the
	// requests'; zero when not announced.
	Tokens TokenQuota
	// Source names the fields the quota was read from.
	Source QuotaSource
}

// TokenQuota is an LLM API's quota of tokens: Limit tokens at most,
// Remaining left, restored in full after Reset. Each is 0 when not
// announced.
type TokenQuota struct {
	Limit, Remaining int64
	Reset            time.Duration
}

// QuotaSource names the header fields a Quota was read from.
type QuotaSource int

// The sources of a Quota, in the order ParseQuota tries them.
const (
	// QuotaNone: no quota was read.
	QuotaNone QuotaSource = iota
	// QuotaStructured: the IETF httpapi draft's RateLimit and
	// RateLimit-Policy structured fields.
	QuotaStructured
	// QuotaDraft: the earlier drafts' RateLimit-Remaining and -Reset.
	QuotaDraft
	// QuotaXRateLimit: X-RateLimit-Remaining and -Reset (GitHub and many
	// others).
	QuotaXRateLimit
	// QuotaOpenAI: OpenAI's x-ratelimit-*-requests and -tokens fields.
	QuotaOpenAI
	// QuotaAnthropic: Anthropic's anthropic-ratelimit-* fields.
	QuotaAnthropic
)

// String returns the source's name.
func (s QuotaSource) String() string {
	switch s {
	case QuotaNone:
		return "none"
	case QuotaStructured:
		return "RateLimit"
	case QuotaDraft:
		return "RateLimit-Remaining"
	case QuotaXRateLimit:
		return "X-RateLimit"
	case QuotaOpenAI:
		return "OpenAI"
	case QuotaAnthropic:
		return "Anthropic"
	}
	return "QuotaSource(" + strconv.Itoa(int(s)) + ")"
}

// scopedToHost reports whether a quota from s is the host's (or the
// caller's) as a whole, so that the pacer may follow it. OpenAI's and
// Anthropic's quotas are per model and organisation: a model the URL does
// not name, so that one model's spent quota says nothing of another's.
func (s QuotaSource) scopedToHost() bool {
	return s == QuotaStructured || s == QuotaDraft || s == QuotaXRateLimit
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
//     as GitHub sends it);
//   - OpenAI's x-ratelimit-remaining-requests, -limit-requests and
//     -reset-requests (a duration: "1s", "6m0s", "20ms"), with the -tokens
//     family in Tokens;
//   - Anthropic's anthropic-ratelimit-requests-remaining, -limit and -reset
//     (an RFC 3339 time), with the tokens family (or, without it, the
//     input-tokens or output-tokens family with the fewest left) in Tokens.
//
// The forms after the first name no policy (their limits give no window),
// so Limit and Window stay 0. The LLM APIs' limit goes to Capacity; their
// reset is when the quota is full again, not a window's end. RateLimit
// paces a host by the first three forms only: the LLM APIs' quotas are per
// model, which the URL does not name.
//
// ok is false when no form has a valid remaining count. Malformed values are
// ignored, never guessed at; numbers saturate rather than overflow; a reset
// in the past counts as none.
func ParseQuota(h http.Header, now time.Time) (q Quota, ok bool) {
	if q, ok = parseQuotaFields(h.Get("RateLimit"), h.Get("RateLimit-Policy")); ok {
		q.Source = QuotaStructured
		return q, true
	}
	for i, prefix := range [...]string{"RateLimit-", "X-RateLimit-"} {
		r, okR := parseQuotaInt(h.Get(prefix + "Remaining"))
		if !okR {
			continue
		}
		q = Quota{Remaining: r, Source: QuotaDraft + QuotaSource(i)}
		if reset, ok := parseQuotaInt(h.Get(prefix + "Reset")); ok {
			if reset >= epochThreshold {
				q.Reset = min(max(time.Unix(reset, 0).Sub(now), 0), maxQuotaDuration)
			} else {
				q.Reset = seconds(reset)
			}
		}
		// Their Limit names no window, and is no rate: a fixed window
		// (GitHub's hour) is spread from what remains until the reset.
		return q, true
	}
	if q, ok = parseLLMQuota(h, now); ok {
		return q, true
	}
	return Quota{}, false
}

// parseLLMQuota reads OpenAI's or Anthropic's quota fields.
func parseLLMQuota(h http.Header, now time.Time) (Quota, bool) {
	if r, ok := parseQuotaInt(h.Get("X-Ratelimit-Remaining-Requests")); ok {
		q := Quota{Remaining: r, Source: QuotaOpenAI}
		q.Capacity, _ = parseQuotaInt(h.Get("X-Ratelimit-Limit-Requests"))
		q.Reset = parseQuotaDuration(h.Get("X-Ratelimit-Reset-Requests"))
		if t, ok := parseQuotaInt(h.Get("X-Ratelimit-Remaining-Tokens")); ok {
			q.Tokens.Remaining = t
			q.Tokens.Limit, _ = parseQuotaInt(h.Get("X-Ratelimit-Limit-Tokens"))
			q.Tokens.Reset = parseQuotaDuration(h.Get("X-Ratelimit-Reset-Tokens"))
		}
		return q, true
	}
	const a = "Anthropic-Ratelimit-"
	if r, ok := parseQuotaInt(h.Get(a + "Requests-Remaining")); ok {
		q := Quota{Remaining: r, Source: QuotaAnthropic}
		q.Capacity, _ = parseQuotaInt(h.Get(a + "Requests-Limit"))
		q.Reset = parseQuotaTime(h.Get(a+"Requests-Reset"), now)
		// The combined family when sent; else the input or output
		// family with the fewest tokens left.
		for _, family := range [...]string{"Tokens-", "Input-Tokens-", "Output-Tokens-"} {
			t, ok := parseQuotaInt(h.Get(a + family + "Remaining"))
			if !ok || (q.Tokens != TokenQuota{} && t >= q.Tokens.Remaining) {
				continue
			}
			limit, _ := parseQuotaInt(h.Get(a + family + "Limit"))
			q.Tokens = TokenQuota{Limit: limit, Remaining: t, Reset: parseQuotaTime(h.Get(a+family+"Reset"), now)}
			if family == "Tokens-" {
				break
			}
		}
		return q, true
	}
	return Quota{}, false
}

// maxQuotaDuration bounds a reset read from an LLM API's fields, as seconds
// bounds the others.
const maxQuotaDuration = maxRetryAfterSeconds * time.Second

// parseQuotaDuration parses a non-negative Go-style duration ("1s",
// "6m0s", "20ms", "1.5s"), as OpenAI sends its resets; anything else, or a
// value past maxQuotaDuration, is 0 (none).
func parseQuotaDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" || v[0] < '0' || v[0] > '9' {
		return 0 // no sign, no bare unit
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxQuotaDuration {
		return 0
	}
	return d
}

// parseQuotaTime parses an RFC 3339 time, as Anthropic sends its resets,
// into the time left until it from now; one in the past, or malformed, is
// 0 (none).
func parseQuotaTime(v string, now time.Time) time.Duration {
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return 0
	}
	return min(max(at.Sub(now), 0), maxQuotaDuration)
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
	if len(limit) > maxQuotaField || len(policy) > maxQuotaField {
		// No server needs this much to say its quota: a field this long
		// is malformed, and reading it would cost the client far more
		// than net/http spent receiving it.
		return Quota{}, false
	}
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

// maxQuotaField and maxQuotaItems bound what a quota field may hold to be
// read at all: a few quotas of a few parameters each.
const (
	maxQuotaField = 4096
	maxQuotaItems = 32
)

// sfItems splits a structured-field list (RFC 9651) into its items'
// integer parameters, the only part of a quota field that matters here.
// An item that is not well formed is left out whole, and so are the items
// past maxQuotaItems.
func sfItems(v string) []map[string]int64 {
	var items []map[string]int64
	for _, member := range splitOutsideQuotes(v, ',') {
		if len(items) == maxQuotaItems {
			break
		}
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
