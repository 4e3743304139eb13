package httptestutil_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	htu "github.com/rtchain/rtchain/httptestutil"
)

// ThrottleFirst refuses the first request of each key once, and serves the
// rest; LoadRequests sends each call its own request.
func TestThrottleFirst(t *testing.T) {
	h := htu.ThrottleFirst(func(r *http.Request) string {
		if r.URL.Path == "/free" {
			return ""
		}
		return r.URL.Path
	}, http.Header{"Retry-After-Ms": {"0"}}, nil)
	srv := htu.NewServer(t, h)
	paths := []string{"/a", "/a", "/b", "/free", "/b", "/free"}
	var codes []int
	var waits []string
	for _, p := range paths {
		resp, err := http.Get(srv.URL + p)
		if !assert.NoError(t, err) {
			return
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		waits = append(waits, resp.Header.Get("Retry-After-Ms"))
	}
	assert.Equal(t, []int{429, 200, 429, 200, 200, 200}, codes)
	assert.Equal(t, []string{"0", "", "0", "", "", ""}, waits)
	assert.Equal(t, 2, h.Throttled())
	assert.Equal(t, 4, h.Served())

	res := htu.LoadRequests(http.DefaultClient, 2, 4, func(i int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, fmt.Sprintf("%s/free?i=%d", srv.URL, i), nil)
	})
	assert.Equal(t, 4, res.OK)
	http.DefaultClient.CloseIdleConnections()
}

// A request sent again before the wait its 429 asked for is refused again.
func TestThrottleFirstHoldsTheWaitItAsked(t *testing.T) {
	h := htu.ThrottleFirst(func(*http.Request) string { return "k" }, http.Header{"Retry-After": {"30"}}, nil)
	srv := htu.NewServer(t, h)
	for range 3 {
		resp, err := http.Get(srv.URL)
		if assert.NoError(t, err) {
			resp.Body.Close()
			assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			assert.Equal(t, "30", resp.Header.Get("Retry-After"))
		}
	}
	assert.Equal(t, 3, h.Throttled())
	http.DefaultClient.CloseIdleConnections()
}
