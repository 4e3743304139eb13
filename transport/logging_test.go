package transport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// jsonLogger returns a Debug-level JSON logger and the records it wrote.
func jsonLogger(level slog.Level) (*slog.Logger, func(t *testing.T) []map[string]any, *bytes.Buffer) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
	records := func(t *testing.T) []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m))
			out = append(out, m)
		}
		return out
	}
	return l, records, &buf
}

func loggingClient(t *testing.T, o transport.LogOptions, p transport.RetryPolicy) *http.Client {
	t.Helper()
	client, _ := newRetrying(t, p)
	client.Transport = transport.Chain(client.Transport, transport.Logging(o))
	return client
}

func TestLoggingRecordsCallsAndRetries(t *testing.T) {
	srv := htu.NewServer(t, htu.Unavailable(0), htu.Status(502), htu.OK("fine"))
	l, records, _ := jsonLogger(slog.LevelDebug)
	client := loggingClient(t, transport.LogOptions{Logger: l}, fast(transport.RetryPolicy{}))
	resp, err := client.Get(srv.URL + "/things")
	require.NoError(t, err)
	readAll(t, resp)

	recs := records(t)
	require.Len(t, recs, 3)
	assert.Equal(t, "http retry", recs[0]["msg"])
	assert.Equal(t, "INFO", recs[0]["level"])
	assert.Equal(t, float64(1), recs[0]["attempt"])
	assert.Equal(t, "503 Service Unavailable", recs[0]["reason"])
	assert.Equal(t, true, recs[0]["retry_after"])
	assert.Equal(t, float64(2), recs[1]["attempt"])
	assert.Equal(t, "502 Bad Gateway", recs[1]["reason"])
	assert.Equal(t, false, recs[1]["retry_after"])

	call := recs[2]
	assert.Equal(t, "http call", call["msg"])
	assert.Equal(t, "INFO", call["level"], "a success after retries is told where the retries were")
	assert.Equal(t, "GET", call["method"])
	assert.Equal(t, srv.URL+"/things", call["url"])
	assert.Equal(t, float64(200), call["status"])
	assert.Equal(t, float64(3), call["attempts"])
	assert.Contains(t, call, "duration")
	assert.NotContains(t, call, "headers", "headers only when asked")
}

// At Info, a call's retries and how it ended are both in the log; a
// success at the first try is not.
func TestLoggingAtInfoTellsHowRetriesEnded(t *testing.T) {
	srv := htu.NewServer(t, htu.Unavailable(0), htu.OK("fine"))
	l, records, _ := jsonLogger(slog.LevelInfo)
	client := loggingClient(t, transport.LogOptions{Logger: l}, fast(transport.RetryPolicy{}))
	for range 2 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		readAll(t, resp)
	}
	recs := records(t)
	require.Len(t, recs, 2, "the second call succeeded at once: nothing at Info")
	assert.Equal(t, "http retry", recs[0]["msg"])
	assert.Equal(t, "http call", recs[1]["msg"])
	assert.Equal(t, float64(200), recs[1]["status"])
	assert.Equal(t, float64(2), recs[1]["attempts"])
}

func TestLoggingLevelByOutcome(t *testing.T) {
	for _, tc := range []struct {
		name  string
		url   func(t *testing.T) string
		level string
	}{
		{"2xx", func(t *testing.T) string { return htu.NewServer(t, htu.OK("")).URL }, "DEBUG"},
		{"4xx", func(t *testing.T) string { return htu.NewServer(t, htu.Status(404)).URL }, "INFO"},
		{"5xx", func(t *testing.T) string { return htu.NewServer(t, htu.Status(503)).URL }, "WARN"},
		{"error", closedURL, "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, records, _ := jsonLogger(slog.LevelDebug)
			client := loggingClient(t, transport.LogOptions{Logger: l}, transport.RetryPolicy{MaxRetries: -1})
			resp, err := client.Get(tc.url(t))
			if err == nil {
				readAll(t, resp)
			}
			recs := records(t)
			require.Len(t, recs, 1)
			assert.Equal(t, tc.level, recs[0]["level"])
			assert.Equal(t, float64(1), recs[0]["attempts"])
		})
	}
}

// The log must not contain a secret, wherever the caller put it.
func TestLoggingRedactsSecrets(t *testing.T) {
	const secret = "s3cr3t-VALUE"
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"answered", func(t *testing.T) string { return htu.NewServer(t, htu.Unavailable(0), htu.Status(500)).URL }},
		{"failed", closedURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, records, buf := jsonLogger(slog.LevelDebug)
			client := loggingClient(t, transport.LogOptions{Logger: l, LogHeaders: true, Redact: []string{"X-Internal", "tenant"}},
				fast(transport.RetryPolicy{MaxRetries: 1}))
			u := strings.TrimSuffix(strings.Replace(tc.url(t), "http://", "http://user:"+secret+"@", 1), "/") +
				"/path?access_token=" + secret + "&api_key=" + secret + "&X-Amz-Signature=" + secret +
				"&tenant=" + secret + "&page=2#frag-" + secret
			req := newRequest(t, context.Background(), http.MethodGet, u, nil)
			for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "X-Internal"} {
				req.Header.Set(h, "Bearer "+secret)
			}
			req.Header.Set("Accept", "text/plain")
			resp, err := client.Do(req)
			if err == nil {
				readAll(t, resp)
			}
			out := buf.String()
			assert.NotContains(t, out, secret)
			assert.Contains(t, out, transport.Redacted)
			assert.Contains(t, out, "page=2", "harmless parameters stay readable")
			assert.Contains(t, out, "text/plain", "harmless headers stay readable")
			assert.NotEmpty(t, records(t))
		})
	}
}

func TestLoggingScrubsErrorsThatQuoteTheURL(t *testing.T) {
	const secret = "s3cr3t-VALUE"
	l, _, buf := jsonLogger(slog.LevelDebug)
	base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		// Like an http.Client nested in a custom transport: the error quotes the URL.
		return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: io.ErrUnexpectedEOF}
	})
	rt := transport.Chain(base, transport.Logging(transport.LogOptions{Logger: l}), transport.Retry(fast(transport.RetryPolicy{MaxRetries: 1})))
	_, err := rt.RoundTrip(newRequest(t, context.Background(), http.MethodGet,
		"http://bob:"+secret+"@api.test/x?token="+secret, nil))
	require.Error(t, err)
	assert.NotContains(t, buf.String(), secret)
}

func TestLoggingDisabledPassesTheRequestThrough(t *testing.T) {
	l := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError + 1}))
	req := newRequest(t, context.Background(), http.MethodGet, "http://api.test/", nil)
	var got *http.Request
	base := transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	_, err := transport.Chain(base, transport.Logging(transport.LogOptions{Logger: l})).RoundTrip(req)
	require.NoError(t, err)
	assert.Same(t, req, got, "a disabled logger adds nothing to the request")
}

func TestLoggingLeavesTheRequestAlone(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(503), htu.OK(""))
	l, _, _ := jsonLogger(slog.LevelDebug)
	client := loggingClient(t, transport.LogOptions{Logger: l}, fast(transport.RetryPolicy{}))
	body := newTrackedBody(strings.NewReader("data"))
	req := newRequest(t, context.Background(), http.MethodPut, srv.URL, body)
	before := snap(req)
	resp, err := client.Do(req)
	require.NoError(t, err)
	readAll(t, resp)
	requireUnchanged(t, req, before)
	requireClosedOnce(t, body)
}

func TestLoggingSurvivesABrokenRoundTripper(t *testing.T) {
	l, records, _ := jsonLogger(slog.LevelDebug)
	base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	req := newRequest(t, context.Background(), http.MethodGet, "http://api.test/", nil)
	assert.NotPanics(t, func() {
		_, _ = transport.Chain(base, transport.Logging(transport.LogOptions{Logger: l})).RoundTrip(req)
	})
	require.Len(t, records(t), 1)
	assert.Equal(t, "ERROR", records(t)[0]["level"])
}

// A secret query value leaks in no encoding: percent-escaped, with escapes
// in either case, after a ';' that url.ParseQuery rejects, or in a Referer
// that repeats the URL; not in the call's URL, not in the retry, give-up and
// call records' errors, which quote the URL as it was sent.
func TestLoggingRedactsEveryEncodingOfASecret(t *testing.T) {
	for _, tc := range []struct{ name, query, raw string }{
		{"escaped space", "token=a%20SEKRIT", "a%20SEKRIT"},
		{"plus space", "token=a+SEKRIT", "a+SEKRIT"},
		{"lower-case escape", "token=SEKRIT%7e", "SEKRIT%7e"},
		{"escaped letter", "token=SEK%52IT", "SEK%52IT"},
		{"after a semicolon", "x=1;token=SEKRIT", "SEKRIT"},
		{"escaped name", "to%6Ben=SEKRIT", "SEKRIT"},
		{"invalid escape", "token=SEKRIT%zz&page=2", "SEKRIT%zz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _, buf := jsonLogger(slog.LevelDebug)
			calls := 0
			base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				if calls++; calls == 1 {
					return answer(503)(), nil
				}
				return nil, &url.Error{Op: "Get", URL: req.URL.String(), Err: io.ErrUnexpectedEOF}
			})
			rt := transport.Chain(base, transport.Logging(transport.LogOptions{Logger: l, LogHeaders: true}),
				transport.Retry(fast(transport.RetryPolicy{MaxRetries: 2})))
			u := &url.URL{Scheme: "http", Host: "api.test", Path: "/x", RawQuery: tc.query}
			req := newRequest(t, context.Background(), http.MethodGet, u.String(), nil)
			req.Header.Set("Referer", u.String())
			before := snap(req)
			_, err := rt.RoundTrip(req)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.raw, "the error the caller gets is not redacted")
			out := buf.String()
			for _, leak := range []string{"SEKRIT", tc.raw} {
				assert.NotContains(t, out, leak)
			}
			assert.Contains(t, out, "http retry stopped", "the give-up record was written")
			requireUnchanged(t, req, before)
		})
	}
}

func TestRedactURL(t *testing.T) {
	u, err := url.Parse("http://bob:hunter2@api.test/x?token=a%20SEKRIT&page=2&tenant=acme#frag")
	require.NoError(t, err)
	s, scrubbed := transport.RedactURL(u, "tenant")
	assert.Equal(t, "http://REDACTED@api.test/x?token=REDACTED&page=2&tenant=REDACTED#REDACTED", s)
	msg := scrubbed(`Get "` + u.String() + `": EOF; token was a SEKRIT`)
	for _, leak := range []string{"hunter2", "SEKRIT", "acme"} {
		assert.NotContains(t, msg, leak)
	}
	assert.Contains(t, msg, "page=2")
}

// A call that RateLimit held back says for how long in its record; one that
// was not has no such field.
func TestLoggingSaysHowLongACallWasPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok, throttle := answer(200), answer(429, "Retry-After", "2")
		s := &scripted{resps: []func() *http.Response{ok, ok, ok, ok, ok, ok, ok, throttle, throttle, throttle, ok}}
		l, records, _ := jsonLogger(slog.LevelDebug)
		rt := transport.Chain(s,
			transport.Logging(transport.LogOptions{Logger: l}),
			transport.RateLimit(transport.RateLimitOptions{NoPacing: true}))
		for range 11 { // 3 429s in 10 answers show the limit is the host's: a cool-down
			_, err := statusOf(t, rt, "http://a.test/")
			require.NoError(t, err)
		}
		recs := records(t)
		require.Len(t, recs, 11)
		for _, rec := range recs[:10] {
			assert.NotContains(t, rec, "paced")
		}
		assert.Equal(t, float64(2*time.Second), recs[10]["paced"], "the last call waited out the cool-down")
	})
}
