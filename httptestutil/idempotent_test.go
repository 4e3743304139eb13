package httptestutil_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
)

func post(t *testing.T, c *http.Client, url, key, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestIdempotentHandler(t *testing.T) {
	var charges int
	ih := htu.Idempotent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		charges++
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("charge #1"))
	}))
	srv := htu.NewServer(t, ih)
	c := plainClient(t)

	resp, body := post(t, c, srv.URL+"/pay", "k1", "10")
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "charge #1", body)

	resp, body = post(t, c, srv.URL+"/pay", "k1", "10")
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "replayed")
	assert.Equal(t, "charge #1", body)
	assert.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))

	resp, _ = post(t, c, srv.URL+"/pay", "k1", "99")
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "same key, other body")

	post(t, c, srv.URL+"/pay", "", "10")
	post(t, c, srv.URL+"/pay", "", "10")

	assert.Equal(t, 3, ih.Runs(), "once for k1, twice without a key")
	assert.Equal(t, 3, charges)
	assert.Equal(t, 1, ih.Keys())
}

func TestIdempotentHandlerConcurrentDuplicate(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	ih := htu.Idempotent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("done"))
	}))
	srv := htu.NewServer(t, ih)
	c := plainClient(t)

	var wg sync.WaitGroup
	wg.Go(func() {
		resp, body := post(t, c, srv.URL, "k", "x")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "done", body)
	})
	<-entered
	resp, _ := post(t, c, srv.URL, "k", "x")
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "the original is in progress")
	close(release)
	wg.Wait()
	resp, body := post(t, c, srv.URL, "k", "x")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "done", body)
	assert.Equal(t, 1, ih.Runs())
}

func TestIdempotentHandlerReleasesKeyOn5xx(t *testing.T) {
	var n int
	ih := htu.Idempotent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			http.Error(w, "failed, no effect", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	srv := htu.NewServer(t, ih)
	c := plainClient(t)
	resp, _ := post(t, c, srv.URL, "k", "x")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp, body := post(t, c, srv.URL, "k", "x")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", body)
	assert.Equal(t, 2, ih.Runs())
}
