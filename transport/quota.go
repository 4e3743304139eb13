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
	// Limit and Window are the policy that Remaining is counted against:
	// Limit requests per Window. Both are 0 when not announced.
	Limit  int64
	Window time.Duration
	// Capacity is the most requests the quota holds, where the server
	// names it without a window (a RateLimit-Policy without w, the earlier
	// drafts' RateLimit limit, OpenAI's x-ratelimit-limit-requests,
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
//   - the IETF httpapi draft's structured fields (as of
//     draft-ietf-httpapi-ratelimit-headers-11): RateLimit, a List of items
//     such as `"burst";r=50;t=30` (r left under the policy "burst", to
//     spend within t seconds), and RateLimit-Policy, a List of items such
//     as `"burst";q=100;w=60` (q per w seconds, counted in the unit qu,
//     "requests" by default); or else the RateLimit Dictionary of
//     draft-07 and before (`limit=100, remaining=50, reset=50`), with the
//     RateLimit-Policy item whose Integer is its limit (`100;w=60`);
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
// Each RateLimit item is read with the RateLimit-Policy item of its name,
// which gives Limit and Window (or, without w, Capacity); an item that
// names no announced policy still counts, with neither, as the draft has
// servers announce no policy if they choose. An item whose policy counts
// another unit than requests ("content-bytes", "concurrent-requests", one
// this package does not know, or a qu that is not a String) says nothing
// of the requests that may be sent, and is not read. The client is to keep
// within every item, and the one that leaves it the least is read: the
// fewest left, and of as few, the one with the longest until its reset.
//
// The draft's fields are read as RFC 9651 has it: a field sent on several
// lines is one List, parameters not named above (pk, a vendor's) are
// skipped whatever their type, and a field that is not a well-formed List,
// or longer than 4 KiB, is ignored whole; only its first 32 items are
// read. A RateLimit-Policy so ignored announces no policy.
//
// ok is false when no form has a valid remaining count. Malformed values are
// ignored, never guessed at; numbers saturate rather than overflow; a reset
// in the past counts as none.
func ParseQuota(h http.Header, now time.Time) (q Quota, ok bool) {
	if q, ok = parseQuotaFields(h); ok {
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

// parseQuotaFields reads the RateLimit and RateLimit-Policy fields as
// ParseQuota says: the current draft's Lists of named items, or else the
// earlier drafts' Dictionary.
func parseQuotaFields(h http.Header) (q Quota, ok bool) {
	limit, okL := quotaField(h, "Ratelimit")
	if !okL {
		return Quota{}, false
	}
	policy, okP := quotaField(h, "Ratelimit-Policy")
	if !okP {
		policy = "" // malformed, and only informative: ignored
	}
	var ls, ps [maxQuotaItems]sfMember
	nl := sfMembers(limit, [3]string{"r", "t"}, ls[:])
	np := sfMembers(policy, [3]string{"q", "w", "qu"}, ps[:])
	for _, l := range ls[:nl] {
		r, okR := l.params[0].integer()
		t, okT := l.params[1].integer()
		if !okR || !okT && l.params[1].kind != sfNone || l.name.kind != sfString && l.name.kind != sfToken {
			continue // malformed: no r, or not a count
		}
		var pol *sfMember
		for i := range ps[:np] {
			if ps[i].name == l.name {
				pol = &ps[i] // of two policies of one name, the first
				break
			}
		}
		if pol != nil && !requestsUnit(pol.params[2]) {
			continue // r counts something else than requests
		}
		r, reset := min(r, maxQuotaValue), seconds(t)
		if ok && (r > q.Remaining || r == q.Remaining && reset <= q.Reset) {
			continue
		}
		q, ok = Quota{Remaining: r, Reset: reset}, true
		if pol != nil {
			q.Limit, q.Window, q.Capacity = policyRate(pol.params[0], pol.params[1])
		}
	}
	if !ok {
		return parseQuotaDict(limit, ps[:np])
	}
	return q, true
}

// quotaField returns the lines of h's field key (canonical) as one value,
// joined as RFC 9110 §5.3 joins a list's lines; false when they hold more
// than maxQuotaField bytes in all. No server needs this much to say its
// quota: a field this long is malformed, and reading it would cost the
// client far more than net/http spent receiving it.
func quotaField(h http.Header, key string) (string, bool) {
	lines := h[key]
	if len(lines) == 1 {
		return lines[0], len(lines[0]) <= maxQuotaField
	}
	size := 0
	for _, l := range lines {
		if size += len(l) + len(", "); size > maxQuotaField+len(", ") {
			return "", false
		}
	}
	return strings.Join(lines, ", "), true
}

// maxQuotaField and maxQuotaItems bound what a quota field may hold to be
// read at all: a few quotas of a few parameters each.
const (
	maxQuotaField = 4096
	maxQuotaItems = 32
)

// requestsUnit reports whether a policy whose qu parameter is qu counts
// requests: its unit "requests" (the default) or, as the draft's registry
// spells it, "request". Any other unit, one this package does not know,
// or a qu that is not a String, is not a count of requests.
func requestsUnit(qu sfItem) bool {
	return qu.kind == sfNone || qu.raw == `"requests"` || qu.raw == `"request"`
}

// policyRate reads a policy's q and w parameters: q requests per w
// seconds, or, without w, a capacity of q. A malformed or zero q or w
// gives neither.
func policyRate(qv, wv sfItem) (limit int64, window time.Duration, capacity int64) {
	n, okQ := qv.integer()
	w, okW := wv.integer()
	switch {
	case !okQ || n == 0:
	case okW && w > 0:
		return min(n, maxQuotaValue), seconds(w), 0
	case wv.kind == sfNone:
		return 0, 0, min(n, maxQuotaValue)
	}
	return 0, 0, 0
}

// parseQuotaDict reads the RateLimit Dictionary of draft-07 and before
// (`limit=100, remaining=50, reset=50`), its window from the policy whose
// Integer is the limit (`100;w=60`); without one, the limit is a Capacity.
// A key of the three with a value that is not an Integer of at least 0
// makes the field malformed.
func parseQuotaDict(limit string, policies []sfMember) (Quota, bool) {
	var f [3]sfItem // limit, remaining, reset
	if !sfParse(limit, true, func(_ int, key string, it sfItem) {
		switch key {
		case "limit":
			f[0] = it
		case "remaining":
			f[1] = it
		case "reset":
			f[2] = it
		}
	}, nil) {
		return Quota{}, false
	}
	n, okN := f[0].integer()
	r, okR := f[1].integer()
	t, okT := f[2].integer()
	if !okR || !okN && f[0].kind != sfNone || !okT && f[2].kind != sfNone {
		return Quota{}, false
	}
	q := Quota{Remaining: min(r, maxQuotaValue), Reset: seconds(t), Capacity: min(n, maxQuotaValue)}
	for _, p := range policies {
		if w, okW := p.params[1].integer(); p.name.kind == sfInteger && p.name.n == n && n > 0 && okW && w > 0 {
			q.Limit, q.Window, q.Capacity = q.Capacity, seconds(w), 0
			break
		}
	}
	return q, true
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
