package httptestutil_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
)

func TestLoadCountsWhatSucceeded(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("a"), htu.Status(http.StatusTeapot), htu.OK("b"))
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	res := htu.Load(client, srv.URL, 1, 3) // one worker: the script in order
	assert.Equal(t, 2, res.OK)
	assert.Equal(t, 1, res.Failed)
	assert.Equal(t, "418 I'm a teapot", res.FirstFailure)
	assert.Positive(t, res.Took)
	assert.Equal(t, 3, srv.Count())
}

func TestLoadKeepsWorkersBusy(t *testing.T) {
	srv := htu.NewServer(t, htu.Delay(50*time.Millisecond, htu.OK("slow")))
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	res := htu.Load(client, srv.URL, 10, 20)
	assert.Equal(t, 20, res.OK)
	assert.Less(t, res.Took, 20*50*time.Millisecond/2, "calls overlapped")
}

// The announced fields follow the bucket: the policy is the rate, r the
// whole tokens left after this request, t the seconds until it is full.
func TestRateLimitedAnnouncesItsQuota(t *testing.T) {
	origin := htu.RateLimited(20, 2, time.Second, nil).AnnounceQuota()
	srv := htu.NewServer(t, origin)
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	var remaining []string
	for range 3 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, `"default";q=20;w=1`, resp.Header.Get("RateLimit-Policy"))
		r, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("RateLimit"), `"default";`), ";")
		remaining = append(remaining, r)
	}
	assert.Equal(t, []string{"r=1", "r=0", "r=0"}, remaining)
	assert.Equal(t, 1, origin.Throttled())
}
