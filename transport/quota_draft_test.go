package transport_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

// The RateLimit fields as draft-ietf-httpapi-ratelimit-headers-10 and -11
// write them (issue 33, item 11): Lists of Items (RFC 9651), each RateLimit
// item named after the RateLimit-Policy item it reports on.
func TestParseQuotaDraft11(t *testing.T) {
	structured := func(r int64, reset time.Duration, limit int64, window time.Duration) transport.Quota {
		return transport.Quota{Remaining: r, Reset: reset, Limit: limit, Window: window, Source: transport.QuotaStructured}
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		want transport.Quota
		ok   bool
	}{
		// Finding 1: parameters of every type are read or skipped.
		{"a partition key (a Byte Sequence) is skipped",
			http.Header{"Ratelimit": {`"peruser";r=5;t=10;pk=:cHJvamVjdDEyMw==:`}},
			structured(5, 10*time.Second, 0, 0), true},
		{"the draft's policy with a partition key",
			http.Header{"Ratelimit": {`"peruser";r=40;t=20`}, "Ratelimit-Policy": {`"peruser";q=100;w=60;pk=:cHsdsRa894==:`}},
			structured(40, 20*time.Second, 100, time.Minute), true},
		{"unknown parameters of every type are skipped",
			http.Header{"Ratelimit": {`"a";acme-tok=x/y;acme-s="a;b,c";acme-d=-1.5;acme-b=?1;acme-n=-7;acme-bytes=:AA==:;acme-flag;r=3;t=4;acme-date=@1700000000;acme-ds=%"caf%c3%a9"`}},
			structured(3, 4*time.Second, 0, 0), true},
		{"white space around commas, none after semicolons",
			http.Header{"Ratelimit": {"\"a\";r=9;t=1 ,\t\"b\";r=2;t=3"}},
			structured(2, 3*time.Second, 0, 0), true},
		{"the last of a repeated parameter counts (RFC 9651)",
			http.Header{"Ratelimit": {`"a";r=9;t=1;r=2`}},
			structured(2, time.Second, 0, 0), true},
		{"a list that is not well formed is ignored whole",
			http.Header{"Ratelimit": {`"a";r=2;t=1, "b";r=1;t=1;`}, "X-Ratelimit-Remaining": {"7"}},
			transport.Quota{Remaining: 7, Source: transport.QuotaXRateLimit}, true},
		{"an integer of 16 digits is not well formed",
			http.Header{"Ratelimit": {`"a";r=1234567890123456`}},
			transport.Quota{}, false},
		{"r that is no integer makes the item malformed",
			http.Header{"Ratelimit": {`"a";r=1.0;t=1, "b";r="3";t=1, "c";r=?1, "d";r=8;t=1`}},
			structured(8, time.Second, 0, 0), true},
		{"a negative t makes the item malformed",
			http.Header{"Ratelimit": {`"a";r=1;t=-1, "b";r=8;t=1`}},
			structured(8, time.Second, 0, 0), true},
		// Finding 2: a list split over several field lines.
		{"a list over two field lines",
			http.Header{"Ratelimit": {`"burst";r=50;t=30`, `"daily";r=6;t=3600`},
				"Ratelimit-Policy": {`"burst";q=100;w=60`, `"daily";q=1000;w=86400`}},
			structured(6, time.Hour, 1000, 24*time.Hour), true},
		// Finding 3: a RateLimit item is read with the policy it names.
		{"the item's own policy, not the most restrictive one",
			http.Header{"Ratelimit": {`"burst";r=12;t=30`}, "Ratelimit-Policy": {`"burst";q=100;w=60,"daily";q=1000;w=86400`}},
			structured(12, 30*time.Second, 100, time.Minute), true},
		{"the draft's multiple windows",
			http.Header{"Ratelimit": {`"day";r=100;t=36000`}, "Ratelimit-Policy": {`"hour";q=1000;w=3600, "day";q=5000;w=86400`}},
			structured(100, 10*time.Hour, 5000, 24*time.Hour), true},
		{"an item without a policy still counts, with no policy",
			http.Header{"Ratelimit": {`"dayLimit";r=100;t=36000`}, "Ratelimit-Policy": {`"hour";q=1000;w=3600`}},
			structured(100, 10*time.Hour, 0, 0), true},
		{"of several items, the one with the fewest left, with its policy",
			http.Header{"Ratelimit": {`"day";r=4000;t=3600, "burst";r=9;t=1`}, "Ratelimit-Policy": {`"burst";q=10;w=1, "day";q=5000;w=86400`}},
			structured(9, time.Second, 10, time.Second), true},
		{"as few left: the one that lasts longer",
			http.Header{"Ratelimit": {`"a";r=3;t=1, "b";r=3;t=60, "c";r=3;t=5`}},
			structured(3, time.Minute, 0, 0), true},
		{"a policy without a window is a capacity",
			http.Header{"Ratelimit": {`"a";r=3`}, "Ratelimit-Policy": {`"a";q=10`}},
			transport.Quota{Remaining: 3, Capacity: 10, Source: transport.QuotaStructured}, true},
		{"a malformed policy field is ignored, the items still count",
			http.Header{"Ratelimit": {`"a";r=3;t=2`}, "Ratelimit-Policy": {`"a";q=10;w=1,`}},
			structured(3, 2*time.Second, 0, 0), true},
		// Finding 4: quota units.
		{"a quota of content bytes is no count of requests",
			http.Header{"Ratelimit": {`"peruser";r=300000000;t=60`}, "Ratelimit-Policy": {`"peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:`}},
			transport.Quota{}, false},
		{"a quota of concurrent requests is none either; the requests' quota counts",
			http.Header{"Ratelimit": {`"conc";r=0, "rps";r=40;t=1`}, "Ratelimit-Policy": {`"conc";q=10;qu="concurrent-requests", "rps";q=50;w=1;qu="requests"`}},
			structured(40, time.Second, 50, time.Second), true},
		{"a unit not known, or not a String, is no count of requests",
			http.Header{"Ratelimit": {`"a";r=0;t=9, "b";r=1;t=9, "c";r=5;t=9`}, "Ratelimit-Policy": {`"a";q=1;qu="tokens", "b";q=1;qu=requests, "c";q=6;w=9;qu="request"`}},
			structured(5, 9*time.Second, 6, 9*time.Second), true},
		{"a quota of bytes falls back to the other fields",
			http.Header{"Ratelimit": {`"b";r=0;t=60`}, "Ratelimit-Policy": {`"b";q=1000;qu="content-bytes"`}, "Ratelimit-Remaining": {"4"}},
			transport.Quota{Remaining: 4, Source: transport.QuotaDraft}, true},
		// The earlier drafts' Dictionary (draft-07 and before).
		{"draft-07: a Dictionary, its policy an Integer",
			http.Header{"Ratelimit": {`limit=100, remaining=50, reset=50`}, "Ratelimit-Policy": {`10;w=1, 100;w=60`}},
			structured(50, 50*time.Second, 100, time.Minute), true},
		{"draft-07: no policy, the limit a capacity",
			http.Header{"Ratelimit": {`limit=10, remaining=1, reset=7`}},
			transport.Quota{Remaining: 1, Reset: 7 * time.Second, Capacity: 10, Source: transport.QuotaStructured}, true},
		{"draft-07: a malformed reset voids the field",
			http.Header{"Ratelimit": {`limit=10, remaining=1, reset=-7`}},
			transport.Quota{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, ok := transport.ParseQuota(tc.h, quotaNow)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, q)
		})
	}
}

// A quota of content bytes spent says nothing of the requests the host
// takes: it holds no call back.
func TestAQuotaOfBytesDoesNotPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
			return answer(200, "RateLimit", `"bw";r=0;t=60`, "RateLimit-Policy", `"bw";q=65535;qu="content-bytes";w=60`)(), nil
		})
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{}))
		took, paced := pacedCalls(t, context.Background(), rt, 2, 10)
		assert.Zero(t, took)
		assert.Zero(t, paced)
	})
}

// A RateLimit field is read only when it is a well-formed List (RFC 9651
// §4.2): one fault anywhere and the field is ignored whole.
func TestParseQuotaStructuredSyntax(t *testing.T) {
	for _, tc := range []struct {
		member string
		ok     bool
	}{
		{`"a"; r=1`, true},          // spaces after a semicolon
		{`("x" y;p=1 2);r=0`, true}, // an Inner List, well formed, names no policy: not read
		{`tok/en:1;r=1`, true},
		{`*;r=1`, true},
		{`"a";r=1;x=:YWJj:;y=?0;z=@-62135596800;w=0.001;v=-999999999999.999`, true},
		{`"a";r=1;d=%"%e2%82%ac"`, true},
		{`"a" ;r=1`, false}, // no space before a semicolon
		{`"a";R=1`, false},  // keys are lower case
		{`"a";r=1;x=1.2345`, false},
		{`"a";r=1;x=1234567890123.4`, false},
		{`"a";r=1;x=1.`, false},
		{`"a";r=1;x=-`, false},
		{`"a";r=1;x=?2`, false},
		{`"a";r=1;x=:YW*j:`, false},
		{`"a";r=1;x=:YWJj`, false},
		{`"a\x";r=1`, false},
		{`"a` + "\x7f" + `";r=1`, false},
		{`"a";r=1;d=%"%E2%82%AC"`, false}, // upper-case hex
		{`"a";r=1;d=%"%ff"`, false},       // not UTF-8
		{`"a";r=1;d=%"%e2%82"`, false},    // cut short
		{`"a";r=1;z=@1.5`, false},
		{`("x";r=1`, false},
		{`("x"y);r=1`, false},
		{`"a";r=1;`, false},
		{`"a";r=1 "b"`, false},
	} {
		t.Run(tc.member, func(t *testing.T) {
			h := http.Header{"Ratelimit": {`"z";r=7;t=1, ` + tc.member}}
			q, ok := transport.ParseQuota(h, quotaNow)
			assert.Equal(t, tc.ok, ok)
			if tc.ok && !strings.HasPrefix(tc.member, "(") {
				assert.Equal(t, int64(1), q.Remaining)
			} else if tc.ok {
				assert.Equal(t, int64(7), q.Remaining)
			}
		})
	}
}
