package transport_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// Secrets in paths and under short names are redacted (issue 33, item 13):
// a bot token in the path, a session in a path parameter, pass and pw.
func TestRedactURLFindsSecretsInPaths(t *testing.T) {
	for _, tc := range []struct {
		url, secret string
	}{
		{"https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"},
		{"https://shop.example/cart;jsessionid=1A530637289A03B07199A44E8D531427/items", "1A530637289A03B07199A44E8D531427"},
		{"https://svc.example/login?user=ann&pass=hunter2", "hunter2"},
		{"https://svc.example/login?user=ann&pw=s3cr3t", "s3cr3t"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			require.NoError(t, err)
			got, scrubbed := transport.RedactURL(u)
			assert.NotContains(t, got, tc.secret)
			assert.Contains(t, got, transport.Redacted)
			assert.NotContains(t, scrubbed(`Get "`+tc.url+`": connection refused`), tc.secret, "an error quoting the URL")
		})
	}
	u, err := url.Parse("https://svc.example/items/42;v=2")
	require.NoError(t, err)
	got, _ := transport.RedactURL(u)
	assert.Equal(t, "https://svc.example/items/42;v=2", got, "a path without secrets is left as it is")
}

// LogOptions.RedactPath takes out secrets of the user's own, from the URL
// and from the rest of the record.
func TestLoggingRedactPath(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("ok"))
	l, records, _ := jsonLogger(slog.LevelDebug)
	rt := transport.Chain(pooledBase(t), transport.Logging(transport.LogOptions{Logger: l,
		RedactPath: func(p string) string {
			segs := strings.Split(p, "/")
			if len(segs) > 2 && segs[1] == "keys" {
				segs[2] = transport.Redacted
			}
			return strings.Join(segs, "/")
		}}))
	require.NoError(t, do(t, rt, context.Background(), srv.URL+"/keys/sk-live-abcdef123/info"))
	var logged string
	for _, r := range records(t) {
		for _, v := range r {
			if s, ok := v.(string); ok {
				logged += s + "\n"
			}
		}
	}
	assert.NotContains(t, logged, "sk-live-abcdef123")
	assert.Contains(t, logged, "/keys/"+transport.Redacted+"/info")
}
