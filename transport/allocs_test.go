package transport_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/rtchain/rtchain/transport"
)

// The success path of the default chain allocates nothing beyond what the
// base does (the canned response): a regression here costs every call.
func TestSuccessPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://api.test/items?id=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, rt := range map[string]http.RoundTripper{
		"base":            canned,
		"NewClient chain": transport.NewClientWith(transport.ClientOptions{Base: canned}).Transport,
		"Retry":           transport.Chain(canned, transport.Retry(transport.RetryPolicy{})),
	} {
		allocs := testing.AllocsPerRun(200, func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
		if allocs > 1 {
			t.Errorf("%s: %v allocations a call, want 1 (the canned response)", name, allocs)
		}
	}
}
