package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	s := out.String()
	assert.Contains(t, s, "200 OK: flaky: fine in the end")
	assert.Contains(t, s, "200 OK: busy: served after Retry-After")
	assert.Contains(t, s, "200 OK: pay: charged once")
	assert.Contains(t, s, "503 Service Unavailable")
	// 3 + 2 + 2 + 4 (the last call exhausts 3 retries)
	assert.Contains(t, s, "server saw 11 requests")
}
