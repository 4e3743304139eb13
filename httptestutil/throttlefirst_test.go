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
	}, http.Header{"Retry-After-Ms": {"7"}}, nil)
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
	assert.Equal(t, []string{"7", "", "7", "", "", ""}, waits)
	assert.Equal(t, 2, h.Throttled())
	assert.Equal(t, 4, h.Served())

	res := htu.LoadRequests(http.DefaultClient, 2, 4, func(i int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, fmt.Sprintf("%s/free?i=%d", srv.URL, i), nil)
	})
	assert.Equal(t, 4, res.OK)
	http.DefaultClient.CloseIdleConnections()
}
