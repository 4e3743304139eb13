package transport_test

import (
	"context"
	"fmt"
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
		"base": canned,
		"NewClient chain, timeouts aside": transport.NewClientWith(transport.ClientOptions{
			Base: canned, Timeout: -1, BodyStallTimeout: -1}).Transport,
		// The stall bound needs no context of the call's own, and a
		// response without content (http.NoBody) nothing to wrap.
		"NewClient chain, with its body-stall timeout": transport.NewClientWith(transport.ClientOptions{
			Base: canned, Timeout: -1}).Transport,
		"Retry": transport.Chain(canned, transport.Retry(transport.RetryPolicy{})),
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

// NewClient's timeouts cost no more than the http.Client.Timeout they
// replace: a call through NewClient allocates no more than the same chain
// under a client with a Timeout.
func TestTimeoutsCostNoMoreThanClientTimeout(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	withClientTimeout := transport.NewClientWith(transport.ClientOptions{Base: canned, Timeout: -1, BodyStallTimeout: -1})
	withClientTimeout.Timeout = transport.DefaultClientTimeout
	allocs := func(c *http.Client) float64 {
		return testing.AllocsPerRun(200, func() {
			resp, err := c.Get("http://api.test/items?id=1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
	before, now := allocs(withClientTimeout), allocs(transport.NewClientWith(transport.ClientOptions{Base: canned}))
	t.Logf("allocations a call: %v with http.Client.Timeout, %v with NewClient's timeouts", before, now)
	if now > before {
		t.Errorf("NewClient's timeouts allocate %v a call, http.Client.Timeout %v", now, before)
	}
}

// Headers copies the request it adds fields to (the caller's is never
// modified): the copy and its header map, and nothing per field. The map
// is two allocations (its header and its slots).
func TestHeadersAllocateOnlyTheCopy(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://api.test/items?id=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	rt := transport.Chain(canned, transport.Headers(transport.HeaderOptions{
		Static: http.Header{"User-Agent": {"rtchain-test"}, "X-Api-Version": {"2"}}}))
	allocs := testing.AllocsPerRun(200, func() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	// 1 for the canned response, 1 for the request, 2 for the map, 1 for
	// the caller's values, copied into one array.
	if allocs > 5 {
		t.Errorf("%v allocations a call, want at most 5", allocs)
	}
	if got := req.Header.Get("User-Agent"); got != "" {
		t.Errorf("the caller's request was modified: User-Agent %q", got)
	}
}

// A host new to NewClient's chain costs one entry in one table, shared by
// the retry budget, the circuits and the rate state: before, each of the
// three kept a table of its own, and a new host cost ten allocations; and
// the table indexes its entries itself, where a sync.Map allocated two more.
func TestANewHostCostsOneEntry(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	rt := transport.NewClientWith(transport.ClientOptions{Base: canned, Timeout: -1, BodyStallTimeout: -1}).Transport
	reqs := make([]*http.Request, 300)
	for i := range reqs {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, fmt.Sprintf("http://h%d.test/", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		reqs[i] = req
	}
	next := 0
	allocs := testing.AllocsPerRun(200, func() {
		resp, err := rt.RoundTrip(reqs[next])
		next++
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	// 1 for the canned response, 1 for the entry (the index's growth,
	// doubling, is spread over the hosts it holds).
	if allocs > 2 {
		t.Errorf("%v allocations for a call to a new host, want at most 2", allocs)
	}
}
