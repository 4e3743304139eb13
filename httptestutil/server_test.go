package httptestutil_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
)

func TestScriptsPlayInOrderAndTheLastRepeats(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(503), htu.OK("a"), htu.OK("last"))
	srv.Handle("/other", htu.Status(404))
	c := plainClient(t)
	var got []string
	for _, path := range []string{"/", "/other", "/", "/", "/", "/other"} {
		resp, body, err := get(t, c, srv.URL+path)
		require.NoError(t, err)
		got = append(got, fmt.Sprint(resp.StatusCode, " ", body))
	}
	assert.Equal(t, []string{"503 Service Unavailable", "404 Not Found", "200 a", "200 last", "200 last", "404 Not Found"}, got)
}

func TestRecording(t *testing.T) {
	srv := htu.NewServer(t)
	c := plainClient(t)
	before := time.Now()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/items?x=1", strings.NewReader("payload"))
	require.NoError(t, err)
	req.Header.Set("X-Test", "yes")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	_, _, err = get(t, c, srv.URL+"/second")
	require.NoError(t, err)

	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/items", r.URL.Path)
	assert.Equal(t, "1", r.URL.Query().Get("x"))
	assert.Equal(t, "yes", r.Header.Get("X-Test"))
	assert.Equal(t, "payload", string(r.Body))
	assert.False(t, r.At.Before(before))
	assert.Equal(t, 1, r.Conn)
	assert.Equal(t, 1, reqs[1].Conn, "keep-alive: same connection")
	assert.Equal(t, 1, srv.Conns())
	assert.Equal(t, 2, srv.Count())
}

func TestConnectionsAreCounted(t *testing.T) {
	srv := htu.NewServer(t, htu.CloseConn(), htu.OK(""))
	c := plainClient(t)
	_, _, err := get(t, c, srv.URL)
	require.Error(t, err)
	_, _, err = get(t, c, srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Conns())
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, []int{1, 2}, []int{reqs[0].Conn, reqs[1].Conn})
}

func TestConcurrentRequests(t *testing.T) {
	srv := htu.NewServer(t, htu.Delay(time.Millisecond, htu.OK("x")))
	c := plainClient(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/%d", srv.URL, i), strings.NewReader(fmt.Sprint(i)))
			resp, err := c.Do(req)
			if assert.NoError(t, err) {
				resp.Body.Close()
			}
			_ = srv.Requests() // reading while others record
		})
	}
	wg.Wait()
	reqs := srv.Requests()
	require.Len(t, reqs, 50)
	for _, r := range reqs {
		assert.Equal(t, strings.TrimPrefix(r.URL.Path, "/"), string(r.Body))
	}
}

func TestTLS(t *testing.T) {
	srv := htu.NewTLSServer(t, htu.OK("secure"))
	tr := srv.Client().Transport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	resp, body, err := get(t, &http.Client{Transport: tr}, srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "secure", body)
	assert.Equal(t, 2, resp.ProtoMajor)
}

func TestCloseEndsHungSteps(t *testing.T) {
	srv := htu.Start(htu.Hang())
	c := plainClient(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := get(t, c, srv.URL)
		done <- err
	}()
	require.Eventually(t, func() bool { return srv.Count() == 1 }, 5*time.Second, time.Millisecond)
	srv.Close() // must not block on the hung step
	require.Error(t, <-done)
	srv.Close()
}
