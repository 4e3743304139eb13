package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// Run: go test -run '^$' -fuzz FuzzRetryAfter -fuzztime 5m ./transport
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{
		"0", "120", " 7 ", "-1", "+5", "1.5", "1e3", "", "soon", "\x00", "99999999999999999999999",
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Fri, 31 Dec 9999 23:59:59 GMT", "Sun, 22 Nov 2026 10:00:05 GMT",
	} {
		f.Add(v, "")
	}
	f.Add("Sun, 22 Nov 2026 10:01:00 GMT", "Sun, 22 Nov 2026 10:00:00 GMT")
	f.Add("Sun, 22 Nov 2026 10:01:00 GMT", "garbage")
	const maxRetryAfter = 10 * time.Second
	f.Fuzz(func(t *testing.T, v, date string) {
		h := http.Header{"Retry-After": {v}}
		if date != "" {
			h.Set("Date", date)
		}
		d, ok := transport.ParseRetryAfter(h, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q, Date %q) = %v, %v", v, date, d, ok)
		}
		// The same value as milliseconds, beside a valid Retry-After.
		for _, name := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
			ms, ok := transport.ParseRetryAfter(http.Header{name: {v}, "Retry-After": {"3"}}, time.Now())
			if ms < 0 || !ok || ms > (1<<31)*time.Millisecond {
				t.Fatalf("%s %q = %v, %v", name, v, ms, ok)
			}
		}
		// Through Retry, whatever the header says, no wait passes the cap.
		synctest.Test(t, func(t *testing.T) {
			s := &scripted{resps: []func() *http.Response{answer(503, "Retry-After", v, "Date", date), answer(200)}}
			p := transport.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxRetryAfter: maxRetryAfter}
			resp, took, err := run(t, context.Background(), p, s)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if took < 0 || took > maxRetryAfter {
				t.Fatalf("Retry-After %q (Date %q) made the call wait %v, above the cap %v", v, date, took, maxRetryAfter)
			}
		})
	})
}

// safe maps arbitrary bytes onto URL-unreserved characters, so that a
// secret appears verbatim wherever it is put (URL, header, log line).
func safe(b string, minLen int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	var sb strings.Builder
	for i := 0; i < len(b) || sb.Len() < minLen; i++ {
		c := byte(i * 7)
		if i < len(b) {
			c = b[i]
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}

// Run: go test -run '^$' -fuzz FuzzRedaction -fuzztime 5m ./transport
//
// The secret query value is written as a client may write it: any of its
// bytes percent-escaped, in either case, a space as '+' or "%20", after a
// ';' that url.ParseQuery rejects; and the URL may come back in a Referer.
func FuzzRedaction(f *testing.F) {
	f.Add("s3cr3t-value", "api_key", "X-Api-Key", uint8(0), uint64(0))
	f.Add("hunter2hunter2", "password", "Authorization", uint8(1), uint64(0))
	f.Add("AKIAabcdef", "X-Amz-Signature", "Cookie", uint8(2), uint64(0))
	f.Add("x", "sig", "X-Session-Id", uint8(3), uint64(0))
	f.Add("SEKRIT", "token", "X-Trace", uint8(48), uint64(0b1_0000_0001<<1|1)) // ';', Referer, a space, an escape
	f.Fuzz(func(t *testing.T, rawSecret, rawParam, rawHeader string, where uint8, escapes uint64) {
		// The marker keeps the secret out of the names around it: parameter
		// names are lower-cased here, header names canonicalized.
		plain := "S3CRET" + safe(rawSecret, 6)
		secret := plain
		if escapes&1 != 0 {
			secret = plain[:3] + " " + plain[3:]
		}
		encoded := escapeSome(secret, escapes>>1)
		// Names that are secret because they contain a word: any affix keeps
		// them secret. sig, pwd and code are secret only as whole names.
		words := []string{"token", "access_token", "api_key", "client_secret", "password", "signature", "X-Amz-Credential", "auth", "code_verifier"}
		exact := []string{"sig", "pwd", "code"}
		headers := []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "X-Session", "X-Secret"}
		param := words[int(where)%len(words)] + strings.ToLower(safe(rawParam, 0))
		if where%4 == 3 {
			param = exact[int(where/4)%len(exact)]
		}
		header := headers[int(where)%len(headers)] + "-" + safe(rawHeader, 1)
		if int(where)%3 == 0 {
			header = headers[int(where)%len(headers)]
		}
		sep := "&"
		if where&16 != 0 {
			sep = ";"
		}
		u := "http://user:" + plain + "@api.test/p?page=1" + sep + url.QueryEscape(param) + "=" + encoded + "#" + plain

		var buf bytes.Buffer
		l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		calls := 0
		base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			calls++
			if calls == 1 {
				return answer(503)(), nil
			}
			return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: context.DeadlineExceeded}
		})
		rt := transport.Chain(base, transport.Logging(transport.LogOptions{Logger: l, LogHeaders: true}),
			transport.Retry(transport.RetryPolicy{MaxRetries: 1, BaseDelay: time.Nanosecond}))
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Skip(err)
		}
		req.Header.Set(header, "Bearer "+plain)
		if where&32 != 0 {
			req.Header.Set("Referer", u)
		}
		if _, err := rt.RoundTrip(req); err == nil {
			t.Fatal("want the quoted-URL error")
		}
		for _, leak := range []string{plain, secret, encoded} {
			if strings.Contains(buf.String(), leak) {
				t.Fatalf("secret %q (sent as %q, param %q, header %q) leaked:\n%s", secret, encoded, param, header, buf.String())
			}
		}
	})
}

// escapeSome writes s as a query value: a space as "%20" or '+', and byte i
// percent-escaped when bit i%32 of bits is set, in upper-case hex when bit
// 32+i%32 is set too.
func escapeSome(s string, bits uint64) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		escape := bits>>(i%32)&1 != 0
		switch {
		case c == ' ' && !escape:
			sb.WriteByte('+')
		case c == ' ' || escape:
			format := "%%%02x"
			if bits>>(32+i%32)&1 != 0 {
				format = "%%%02X"
			}
			fmt.Fprintf(&sb, format, c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}
