package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The demo prints its summary and the rtchain metrics it collected: every
// call ended in an attempt count, and the failing service made retries.
func TestDemoPrintsTheMetrics(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, 20, 4, false))
	s := out.String()
	assert.Contains(t, s, "20 calls, 4 at a time")
	assert.Regexp(t, `rtchain.client.call.attempts\s+20 records`, s)
	assert.Regexp(t, `rtchain.client.retries\s+\d+ \{retry\}\s+rtchain.retry.after=false rtchain.retry.reason=503`, s)
	assert.Regexp(t, `rtchain.client.retry.wait\s+\d+ records\s+\(p50 ≤ [0-9.]+s, p99 ≤ [0-9.]+s, sum`, s)
	assert.Regexp(t, `http.client.request.duration\s+\d+ records\s+http.request.method=GET http.response.status_code=200`, s)
	assert.Contains(t, s, "a sum can exceed the run's")
}

func TestDemoJSON(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, 8, 2, true))
	assert.Contains(t, out.String(), `"Name": "rtchain.client.retries"`)
	assert.True(t, json.Valid(out.Bytes()), "stdout is the exporter's JSON alone")
}

// With -listen, the demo serves rtchain's metrics in Prometheus's format
// while it calls its dependencies, and stops when interrupted.
func TestDemoServesMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, &out) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	var body string
	require.Eventually(t, func() bool {
		resp, err := c.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, "rtchain_client_retries_total{") &&
			strings.Contains(body, "rtchain_server_idempotency_requests_total{")
	}, 20*time.Second, 100*time.Millisecond, "no retries nor keyed requests in /metrics:\n%s", body)
	assert.Contains(t, body, "# TYPE rtchain_client_call_attempts histogram")
	assert.Contains(t, body, "# TYPE rtchain_client_retry_wait_seconds histogram")
}
