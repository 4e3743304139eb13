package main

import (
	"bytes"
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
}

func TestDemoJSON(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, 8, 2, true))
	assert.Contains(t, out.String(), `"Name": "rtchain.client.retries"`)
}
