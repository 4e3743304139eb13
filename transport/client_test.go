package transport_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
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
	srv.Handle("/pay", htu.Unavailable(0), htu.Status(502), htu.OK("paid"))
	client := transport.NewClient()
	assert.Zero(t, client.Timeout, "a download that keeps moving is never cut")
	t.Cleanup(client.CloseIdleConnections)

	resp, err := client.Get(srv.URL + "/get")
	require.NoError(t, err)
	assert.Equal(t, "got", readAll(t, resp))

	resp, err = client.Post(srv.URL+"/pay", "application/json", strings.NewReader(`{"amount":10}`))
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode,
		"a POST without a key is retried after a refusal (503), never after a 502")
	readAll(t, resp)
	var pays int
	for _, r := range srv.Requests() {
		if r.URL.Path == "/pay" {
			pays++
			assert.Empty(t, r.Header.Get("Idempotency-Key"), "NewClient generates no keys")
		}
	}
	assert.Equal(t, 2, pays)
	assert.Empty(t, logs.String(), "NewClient is quiet by default")
}

// A server that ignores Idempotency-Key, creates the resource and loses the
// answer (502): NewClient must not create a second one.
func TestNewClientNeverDuplicatesAnEffect(t *testing.T) {
	var created atomic.Int32
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		created.Add(1) // the effect happens, whatever the header says
		w.WriteHeader(http.StatusBadGateway)
	}))
	client := transport.NewClient()
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Post(srv.URL+"/repos/o/r/issues", "application/json", strings.NewReader(`{"title":"bug"}`))
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, int32(1), created.Load())
}

func TestNewClientWith(t *testing.T) {
	t.Run("order: logging outside, headers inside retries", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(502), htu.OK("ok"))
		l, records, _ := jsonLogger(slog.LevelDebug)
		client := transport.NewClientWith(transport.ClientOptions{
			Base:    pooledBase(t),
			Log:     transport.LogOptions{Logger: l},
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
	t.Run("with keys on, a POST carries one key on every attempt", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Unavailable(0), htu.OK("paid"))
		client := transport.NewClientWith(transport.ClientOptions{Base: pooledBase(t), IdempotencyKeys: true, Timeout: -1})
		assert.Zero(t, client.Timeout)
		resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("x"))
		require.NoError(t, err)
		assert.Equal(t, "paid", readAll(t, resp), "the generated key made the POST retryable")
		reqs := srv.Requests()
		require.Len(t, reqs, 2)
		assert.NotEmpty(t, reqs[0].Header.Get("Idempotency-Key"))
		assert.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
	})
}
