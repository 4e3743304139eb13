package main

import (
	"bytes"
	"encoding/json"
	"testing"

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
