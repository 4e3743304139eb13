package bench

import (
	"net/http"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// throttleClients are the clients of the throttling workloads, each with its
// own defaults: what a team gets when it picks the library and changes
// nothing. The second is the floor rtchain is held to: the same chain
// without host-wide reactions.
var throttleClients = []struct {
	name string
	new  func(base http.RoundTripper) *http.Client
}{
	{"rtchain NewClient", func(base http.RoundTripper) *http.Client {
		return transport.NewClientWith(transport.ClientOptions{Base: base})
	}},
	{"rtchain without host-wide reactions", func(base http.RoundTripper) *http.Client {
		return transport.NewClientWith(transport.ClientOptions{Base: base,
			RateLimit: transport.RateLimitOptions{NoCoolDown: true, NoPacing: true}})
	}},
	{"go-retryablehttp", func(base http.RoundTripper) *http.Client {
		c := retryablehttp.NewClient()
		c.HTTPClient = &http.Client{Transport: base}
		c.Logger = nil
		return c.StandardClient()
	}},
	{"failsafehttp", func(base http.RoundTripper) *http.Client {
		return &http.Client{Transport: failsafehttp.NewRoundTripper(base, failsafehttp.NewRetryPolicyBuilder().Build())}
	}},
}

// The scoped-throttle workload (htu.ScopedThrottleLoad), every client in
// the same run. go test -run TestScopedThrottleWorkload -v .
func TestScopedThrottleWorkload(t *testing.T) {
	var took [2]time.Duration
	for i, c := range throttleClients {
		t.Run(c.name, func(t *testing.T) {
			base := newBodyAudit(t)
			res, throttled := htu.ScopedThrottleLoad(t, c.new(base))
			t.Logf("%-36s %3d/800 in %v, %d 429s, %d bodies left open (first failure: %q)",
				c.name, res.OK, res.Took.Round(time.Millisecond), throttled, base.leftOpen(), res.FirstFailure)
			if i < 2 {
				took[i] = res.Took
				if res.OK != 800 {
					t.Errorf("%d of 800 calls succeeded", res.OK)
				}
			}
		})
	}
	if r := took[0].Seconds() / took[1].Seconds(); r > 1.25 {
		t.Errorf("NewClient took %.2f× the chain without host-wide reactions, want ≤ 1.25×", r)
	}
}

// The LLM-style workload (htu.RefusingLoad), 8 workers × 10 keyless POSTs,
// every client in the same run. The physical limit is 2 s.
// go test -run TestRefusingEndpointWorkload -v .
func TestRefusingEndpointWorkload(t *testing.T) {
	for i, c := range throttleClients {
		t.Run(c.name, func(t *testing.T) {
			base := newBodyAudit(t)
			res, throttled := htu.RefusingLoad(t, c.new(base), 8, 10)
			t.Logf("%-36s %2d/80 in %v, %d 429s, %d bodies left open (first failure: %.60q)",
				c.name, res.OK, res.Took.Round(time.Millisecond), throttled, base.leftOpen(), res.FirstFailure)
			if i == 0 && (res.OK != 80 || res.Took > 3*time.Second) {
				t.Errorf("rtchain: %d of 80 in %v", res.OK, res.Took)
			}
		})
	}
}
