package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestChargesOncePerKeyAndSaysSo(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(stdinR, outW); _ = outW.Close() }()
	line, err := bufio.NewReader(outR).ReadString('\n')
	require.NoError(t, err)
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	go func() { _, _ = io.Copy(io.Discard, outR) }()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	pay := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, url+"/pay", strings.NewReader(`{"order":"o-1","amount":10}`))
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusCreated, pay("k"))
	assert.Equal(t, http.StatusCreated, pay("k"), "replayed")
	assert.Equal(t, http.StatusCreated, pay(""), "no key: charged again")

	resp, err := c.Get(url + "/ledger")
	require.NoError(t, err)
	var ledger map[string]int
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	_ = resp.Body.Close()
	assert.Equal(t, map[string]int{"o-1": 2}, ledger)

	tr.CloseIdleConnections()
	require.NoError(t, stdinW.Close())
	require.NoError(t, <-done, "it ends when its input closes")
}
