package transport_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// swapDefaultLogger makes slog.Default write to a buffer for the test.
func swapDefaultLogger(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

func TestNewClientDefaultChain(t *testing.T) {
	logs := swapDefaultLogger(t)
	srv := htu.NewServer(t)
	srv.Handle("/get", htu.Status(503), htu.Reset(), htu.OK("got"))
	srv.Handle("/pay", htu.Unavailable(0), htu.OK("paid"))
	client := transport.NewClient()
	assert.Equal(t, transport.DefaultClientTimeout, client.Timeout)
	t.Cleanup(client.CloseIdleConnections)

	resp, err := client.Get(srv.URL + "/get")
	require.NoError(t, err)
	assert.Equal(t, "got", readAll(t, resp))

	resp, err = client.Post(srv.URL+"/pay", "application/json", strings.NewReader(`{"amount":10}`))
	require.NoError(t, err)
	assert.Equal(t, "paid", readAll(t, resp), "the generated key made the POST retryable")
	var keys []string
	for _, r := range srv.Requests() {
		if r.URL.Path == "/pay" {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
	}
	require.Len(t, keys, 2)
	assert.NotEmpty(t, keys[0])
	assert.Equal(t, keys[0], keys[1])
	assert.Empty(t, logs.String(), "NewClient is quiet by default")
}

func TestNewClientWith(t *testing.T) {
	t.Run("order: logging outside, headers inside retries", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(502), htu.OK("ok"))
		l, records, _ := jsonLogger(slog.LevelDebug)
		client := transport.NewClientWith(transport.ClientOptions{
			Base:    pooledBase(t),
			Logger:  l,
			Retry:   fast(transport.RetryPolicy{}),
			Headers: transport.HeaderOptions{Static: http.Header{"User-Agent": {"app/2"}}, AttemptHeader: "Retry-Attempt"},
		})
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		readAll(t, resp)
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		assert.Equal(t, []string{"1", "2"}, []string{reqs[0].Header.Get("Retry-Attempt"), reqs[1].Header.Get("Retry-Attempt")})
		assert.Equal(t, "app/2", reqs[1].Header.Get("User-Agent"))
		recs := records(t)
		require.Len(t, recs, 2)
		assert.Equal(t, "http retry", recs[0]["msg"])
		assert.Equal(t, float64(2), recs[1]["attempts"])
	})
	t.Run("without keys a POST is not retried", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(503), htu.OK("paid twice?"))
		client := transport.NewClientWith(transport.ClientOptions{Base: pooledBase(t), NoIdempotencyKeys: true, Timeout: -1})
		assert.Zero(t, client.Timeout)
		resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("x"))
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, 1, srv.Count())
	})
}
