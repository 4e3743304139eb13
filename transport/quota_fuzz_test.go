package transport_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// Whatever the RateLimit and RateLimit-Policy fields say, ParseQuota never
// panics, returns nothing negative and nothing past its bounds, gives a
// Limit only with a Window, and reads a field sent on two lines as the
// same field on one line, joined as RFC 9110 joins a list's lines. Seeded
// with the examples of draft-ietf-httpapi-ratelimit-headers-11 and -07.
// (FuzzQuota, beside ParseQuota's other tests, drives the other forms and
// the pacer.)
func FuzzParseQuota(f *testing.F) {
	for _, seed := range [][3]string{
		{`"default";r=50;t=30`, ``, `"default";q=100;w=10`},
		{`"burst";r=12;t=30`, ``, `"burst";q=100;w=60,"daily";q=1000;w=86400`},
		{`"burst";r=50;t=30`, `"daily";r=6;t=3600`, `"permin";q=50;w=60,"perhr";q=1000;w=3600`},
		{`"default";r=999;pk=:dHJpYWwxMjEzMjM=:`, ``, `"peruser";q=100;w=60;pk=:cHsdsRa894==:`},
		{`"default";r=300000000;t=60;pk=:QXBwLTk5OQ==:`, ``, `"peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:`},
		{`"problemPolicy";r=0;t=10`, ``, ``},
		{`"daily";r=1;t=86400`, ``, ``},
		{`"somepolicy";r=10000;t=10`, ``, `"somepolicy";q=10000;w=1000`},
		{`"basic";r=20;t=56`, ``, `"basic";q=100;w=60`},
		{`"dynamic";r=0;t=20`, ``, `"dynamic";q=15;w=20`},
		{`"day";r=100;t=36000`, ``, `"hour";q=1000;w=3600, "day";q=5000;w=86400`},
		{`"conc";r=0`, `"rps";r=1;t=1`, `"conc";q=10;qu="concurrent-requests", "rps";q=5;w=1`},
		{`"a";x=?1;y=-1.5;z=tok/en;s="s\"";b=:AA==:;d=@-1;e=%"caf%c3%a9";r=1`, `("i" 2);r=3`, `"a";q=1;qu=requests`},
		{`"a";r=999999999999999;t=999999999999999`, ``, `"a";q=999999999999999;w=999999999999999`},
		{`limit=100, remaining=50, reset=50`, ``, `100;w=60`},
		{`limit=10, remaining=1, reset=7`, ``, `10;w=1, 50;w=60, 1000;w=3600, 5000;w=86400`},
		{`"a";r=1,`, `,"b";r=2`, `;;`},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	const maxWait = 1 << 31 * time.Second
	f.Fuzz(func(t *testing.T, line1, line2, policy string) {
		lines := http.Header{"Ratelimit": {line1, line2}, "Ratelimit-Policy": {policy}}
		q, ok := transport.ParseQuota(lines, quotaNow)
		if q.Remaining < 0 || q.Remaining > 1<<40 || q.Limit < 0 || q.Limit > 1<<40 || q.Capacity < 0 || q.Capacity > 1<<40 ||
			q.Reset < 0 || q.Reset > maxWait || q.Window < 0 || q.Window > maxWait ||
			(q.Limit > 0) != (q.Window > 0) || q.Tokens != (transport.TokenQuota{}) ||
			(!ok && q != transport.Quota{}) || (ok && q.Source != transport.QuotaStructured) {
			t.Fatalf("ParseQuota(%q) = %+v, %v", lines, q, ok)
		}
		joined := http.Header{"Ratelimit": {line1 + ", " + line2}, "Ratelimit-Policy": {policy}}
		if len(line1)+len(line2) <= 4096-2 && strings.Trim(line2, " \t") == line2 && strings.Trim(line1, " \t") == line1 {
			if qj, okj := transport.ParseQuota(joined, quotaNow); qj != q || okj != ok {
				t.Fatalf("ParseQuota(%q) = %+v, %v; on one line %+v, %v", lines, q, ok, qj, okj)
			}
		}
	})
}
