package transport_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

var quotaNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func TestParseQuota(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want transport.Quota
		ok   bool
	}{
		{"draft fields", http.Header{"Ratelimit": {`"default";r=50;t=30`}, "Ratelimit-Policy": {`"default";q=100;w=60`}},
			transport.Quota{Remaining: 50, Reset: 30 * time.Second, Limit: 100, Window: time.Minute, Source: transport.QuotaStructured}, true},
		{"draft, the fewest left count, with the policy they name", http.Header{
			"Ratelimit":        {`"burst";r=9;t=1, "day";r=4000;t=3600`},
			"Ratelimit-Policy": {`"burst";q=10;w=1, "day";q=5000;w=86400`}},
			transport.Quota{Remaining: 9, Reset: time.Second, Limit: 10, Window: time.Second, Source: transport.QuotaStructured}, true},
		{"draft, token names and a comma in a quoted name", http.Header{"Ratelimit": {`"a,b";r=3;t=2`}},
			transport.Quota{Remaining: 3, Reset: 2 * time.Second, Source: transport.QuotaStructured}, true},
		{"draft, a malformed item is left out whole", http.Header{"Ratelimit": {`"x";r=-1;t=5, "y";r=7;t=5`}},
			transport.Quota{Remaining: 7, Reset: 5 * time.Second, Source: transport.QuotaStructured}, true},
		{"draft without r falls back to the older fields", http.Header{"Ratelimit": {`"x";t=5`}, "X-Ratelimit-Remaining": {"2"}},
			transport.Quota{Remaining: 2, Source: transport.QuotaXRateLimit}, true},
		{"older draft fields", http.Header{"Ratelimit-Remaining": {"5"}, "Ratelimit-Reset": {"10"}, "Ratelimit-Limit": {"20"}},
			transport.Quota{Remaining: 5, Reset: 10 * time.Second, Source: transport.QuotaDraft}, true},
		{"GitHub: a Unix reset", http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1796040060"}},
			transport.Quota{Remaining: 0, Reset: time.Unix(1796040060, 0).Sub(quotaNow), Source: transport.QuotaXRateLimit}, true},
		{"a reset in the past is none", http.Header{"X-Ratelimit-Remaining": {"1"}, "X-Ratelimit-Reset": {"1500000000"}},
			transport.Quota{Remaining: 1, Source: transport.QuotaXRateLimit}, true},
		{"huge numbers saturate", http.Header{"Ratelimit-Remaining": {"99999999999999999999999"}},
			transport.Quota{Remaining: 1 << 40, Source: transport.QuotaDraft}, true},
		{"malformed remaining", http.Header{"X-Ratelimit-Remaining": {"lots"}}, transport.Quota{}, false},
		{"negative remaining", http.Header{"Ratelimit-Remaining": {"-3"}}, transport.Quota{}, false},
		{"OpenAI", http.Header{
			"X-Ratelimit-Limit-Requests": {"60"}, "X-Ratelimit-Remaining-Requests": {"59"}, "X-Ratelimit-Reset-Requests": {"1s"},
			"X-Ratelimit-Limit-Tokens": {"150000"}, "X-Ratelimit-Remaining-Tokens": {"149984"}, "X-Ratelimit-Reset-Tokens": {"6m0s"}},
			transport.Quota{Remaining: 59, Reset: time.Second, Capacity: 60, Source: transport.QuotaOpenAI,
				Tokens: transport.TokenQuota{Limit: 150000, Remaining: 149984, Reset: 6 * time.Minute}}, true},
		{"OpenAI, milliseconds and a malformed reset", http.Header{
			"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"20ms"},
			"X-Ratelimit-Remaining-Tokens": {"12"}, "X-Ratelimit-Reset-Tokens": {"-3s"}},
			transport.Quota{Remaining: 0, Reset: 20 * time.Millisecond, Source: transport.QuotaOpenAI,
				Tokens: transport.TokenQuota{Remaining: 12}}, true},
		{"OpenAI without remaining requests is none", http.Header{"X-Ratelimit-Remaining-Tokens": {"5"}}, transport.Quota{}, false},
		{"Anthropic", http.Header{
			"Anthropic-Ratelimit-Requests-Limit": {"50"}, "Anthropic-Ratelimit-Requests-Remaining": {"49"},
			"Anthropic-Ratelimit-Requests-Reset": {"2026-11-29T12:00:30Z"},
			"Anthropic-Ratelimit-Tokens-Limit":   {"80000"}, "Anthropic-Ratelimit-Tokens-Remaining": {"79000"},
			"Anthropic-Ratelimit-Tokens-Reset": {"2026-11-29T12:01:00Z"}},
			transport.Quota{Remaining: 49, Reset: 30 * time.Second, Capacity: 50, Source: transport.QuotaAnthropic,
				Tokens: transport.TokenQuota{Limit: 80000, Remaining: 79000, Reset: time.Minute}}, true},
		{"Anthropic, input and output tokens: the fewest left count", http.Header{
			"Anthropic-Ratelimit-Requests-Remaining":     {"3"},
			"Anthropic-Ratelimit-Input-Tokens-Remaining": {"900"}, "Anthropic-Ratelimit-Input-Tokens-Limit": {"1000"},
			"Anthropic-Ratelimit-Output-Tokens-Remaining": {"40"}, "Anthropic-Ratelimit-Output-Tokens-Limit": {"400"},
			"Anthropic-Ratelimit-Output-Tokens-Reset": {"2026-11-29T11:59:00Z"}},
			transport.Quota{Remaining: 3, Source: transport.QuotaAnthropic,
				Tokens: transport.TokenQuota{Limit: 400, Remaining: 40}}, true},
		{"none", http.Header{}, transport.Quota{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, ok := transport.ParseQuota(tc.h, quotaNow)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, q)
		})
	}
}

// Whatever the fields say, ParseQuota never panics, never returns negative
// numbers, and a client paced by them never waits past its caps: the
// call's deadline, or RateLimit's MaxCoolDown for a spent quota.
func FuzzQuota(f *testing.F) {
	for _, seed := range [][3]string{
		{`"default";r=50;t=30`, `"default";q=100;w=60`, ""},
		{`"a";r=0;t=99999999999`, ``, ""},
		{`"a";r=1;t=1, "b";r=2`, `"a";q=0;w=0`, ""},
		{`r=1;t=1`, `q=1;w=99999999999999`, ""},
		{`"unterminated;r=1`, `;;;`, "3"},
		{``, ``, "0"},
		{``, ``, "99999999999999999999"},
		{`149984`, `6m0s`, "59"},
		{`40`, `2026-11-29T12:01:00Z`, "0"},
		{`1`, `9223372036854775807ns`, "1"},
	} {
		f.Add(seed[0], seed[1], seed[2], "1796040060")
	}
	const maxCoolDown = 3 * time.Second
	f.Fuzz(func(t *testing.T, limit, policy, remaining, reset string) {
		h := http.Header{"Ratelimit": {limit}, "Ratelimit-Policy": {policy},
			"X-Ratelimit-Remaining": {remaining}, "X-Ratelimit-Reset": {reset}}
		// The LLM APIs' fields get the same values, where the forms
		// above fail to parse them.
		llm := http.Header{
			"X-Ratelimit-Remaining-Requests": {remaining}, "X-Ratelimit-Reset-Requests": {reset},
			"X-Ratelimit-Remaining-Tokens": {limit}, "X-Ratelimit-Reset-Tokens": {policy},
			"Anthropic-Ratelimit-Requests-Remaining": {remaining}, "Anthropic-Ratelimit-Requests-Reset": {reset},
			"Anthropic-Ratelimit-Output-Tokens-Remaining": {limit}, "Anthropic-Ratelimit-Output-Tokens-Reset": {policy},
		}
		for _, h := range []http.Header{h, llm} {
			q, ok := transport.ParseQuota(h, quotaNow)
			if q.Remaining < 0 || q.Reset < 0 || q.Limit < 0 || q.Window < 0 || q.Capacity < 0 ||
				q.Tokens.Remaining < 0 || q.Tokens.Limit < 0 || q.Tokens.Reset < 0 ||
				q.Reset > 1<<31*time.Second || q.Tokens.Reset > 1<<31*time.Second ||
				(!ok && q != transport.Quota{}) || (ok && q.Source == transport.QuotaNone) {
				t.Fatalf("ParseQuota(%q) = %+v, %v", h, q, ok)
			}
		}
		for k, v := range llm {
			h[k] = v
		}
		synctest.Test(t, func(t *testing.T) {
			s := &scripted{resps: []func() *http.Response{func() *http.Response {
				r := answer(200)()
				r.Header = h.Clone()
				return r
			}}}
			rt := transport.Chain(s, transport.RateLimit(transport.RateLimitOptions{MaxCoolDown: maxCoolDown}))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for range 3 {
				start := time.Now()
				_, err := statusIn(t, ctx, rt, "http://a.test/")
				if took := time.Since(start); took > maxCoolDown+time.Second*2 {
					t.Fatalf("fields %q made a call wait %v (err %v)", h, took, err)
				}
			}
		})
	})
}

// A host that announces its quota is paced to spread it: 3 left over 1s
// with a policy of 4 a second, 6 calls in a row, none refused.
func TestQuotaIsSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		left := 3
		base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			r := answer(200)()
			if left < 0 {
				r = answer(429, "Retry-After", "1")()
			}
			r.Header.Set("RateLimit", `"d";r=`+itoa(max(left, 0))+`;t=1`)
			r.Header.Set("RateLimit-Policy", `"d";q=4;w=1`)
			left--
			return r, nil
		})
		var paced []time.Duration
		ctx := transport.WithTrace(context.Background(), &transport.Trace{Paced: func(e transport.PacedEvent) {
			assert.Equal(t, transport.PacedByPacer, e.Reason)
			paced = append(paced, e.Wait)
		}})
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
		start := time.Now()
		for range 6 {
			code, err := statusIn(t, ctx, rt, "http://a.test/")
			require.NoError(t, err)
			require.Equal(t, 200, code)
			time.Sleep(10 * time.Millisecond) // the server refills meanwhile
			left = min(left+1, 3)
		}
		assert.NotEmpty(t, paced, "the quota paced the calls")
		assert.Less(t, time.Since(start), 3*time.Second)
	})
}

// A fixed window that is spent (GitHub's X-RateLimit-Remaining: 0) holds
// every call to the host until it resets, capped at MaxCoolDown.
func TestSpentQuotaHoldsUntilReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{resps: []func() *http.Response{
			answer(200, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "2"),
			answer(200),
		}}
		rt := transport.Chain(s, transport.RateLimit(transport.RateLimitOptions{}))
		_, err := statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		start := time.Now()
		_, err = statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		assert.Equal(t, 2*time.Second, time.Since(start))

		s = &scripted{resps: []func() *http.Response{answer(200, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "86400"), answer(200)}}
		rt = transport.Chain(s, transport.RateLimit(transport.RateLimitOptions{MaxCoolDown: 5 * time.Second}))
		_, err = statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		start = time.Now()
		_, err = statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		assert.Equal(t, 5*time.Second, time.Since(start), "capped at MaxCoolDown")
	})
}

// The LLM APIs' quotas are per model, which the URL does not name: a spent
// one paces nothing, and the calls of another model go on at once.
func TestLLMQuotasDoNotPaceTheHost(t *testing.T) {
	for name, h := range map[string][]string{
		"OpenAI":    {"X-Ratelimit-Remaining-Requests", "0", "X-Ratelimit-Reset-Requests", "20s"},
		"Anthropic": {"Anthropic-Ratelimit-Requests-Remaining", "0", "Anthropic-Ratelimit-Requests-Reset", "2099-01-01T00:00:00Z"},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) { return answer(200, h...)(), nil })
				rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
				took, paced := pacedCalls(t, context.Background(), rt, 2, 10)
				assert.Zero(t, took)
				assert.Zero(t, paced)
			})
		})
	}
}
