package bench

import (
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// TestThrottlingWorkload is docs/throttling.md's host-wide bucket workload, run through
// rtchain's NewClient and through go-retryablehttp with its defaults (4
// retries, Retry-After honoured on 429, 1s to 30s exponential waits
// otherwise), in the same run: 10 goroutines, 100 GETs, an origin that
// rate-limits at 20 r/s with bursts of 10 and answers 429 + Retry-After: 1
// beyond it, with and without announcing its quota.
//
// Run: go test -run TestThrottlingWorkload -v .
func TestThrottlingWorkload(t *testing.T) {
	clients := []struct {
		name string
		new  func() *http.Client
	}{
		{"rtchain NewClient", transport.NewClient},
		{"go-retryablehttp", func() *http.Client {
			c := retryablehttp.NewClient()
			c.Logger = nil
			return c.StandardClient()
		}},
	}
	for _, announce := range []bool{false, true} {
		for _, c := range clients {
			name := c.name + ", no quota fields"
			if announce {
				name = c.name + ", quota fields"
			}
			t.Run(name, func(t *testing.T) {
				origin := htu.RateLimited(20, 10, time.Second, htu.OK("ok"))
				if announce {
					origin.AnnounceQuota()
				}
				srv := htu.NewServer(t, origin)
				client := c.new()
				t.Cleanup(client.CloseIdleConnections)
				res := htu.Load(client, srv.URL, 10, 100)
				t.Logf("%s: %d of 100 succeeded in %v, %d 429s sent by the origin (first failure: %q)",
					name, res.OK, res.Took.Round(time.Millisecond), origin.Throttled(), res.FirstFailure)
				if c.name == "rtchain NewClient" && res.OK != 100 {
					t.Errorf("rtchain: %d of 100 calls succeeded", res.OK)
				}
			})
		}
	}
}
