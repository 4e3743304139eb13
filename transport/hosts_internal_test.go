package transport

import (
	"context"
	"net/http"
	"testing"
	"unsafe"
)

// A host that never throttled, refused, failed nor ran out of budget costs
// its entry alone: the pacer's curve, the scope's marks, the acceptance
// count, the circuit's clock and the budget's floor are allocated when a
// host first needs them. A client calling many hosts allocates one small
// entry per new host (bench/README: 100,000 hosts).
func TestAHostEntryIsSmall(t *testing.T) {
	const most = 288 // a size class of Go's allocator
	if size := unsafe.Sizeof(hostEntry[hostSlots]{}); size > most {
		t.Errorf("a host's entry is %d bytes, want at most %d: keep what only a throttling or failing host needs behind a lazy pointer", size, most)
	}
	shared := newSharedHosts(DefaultMaxHosts)
	mws := []Middleware{
		retryWith(RetryPolicy{}, view(shared, func(s *hostSlots) *slot[hostBudget] { return &s.budget }), nil),
		breakerWith(BreakerOptions{}, view(shared, func(s *hostSlots) *slot[circuit] { return &s.circuit })),
		rateLimitWith(RateLimitOptions{}, view(shared, func(s *hostSlots) *slot[hostState] { return &s.rate }), nil),
	}
	ok := RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
	})
	rt := Chain(ok, mws...)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://a.test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	s := shared.t.get("a.test")
	if s.budget.v.floor.Load() != nil || s.circuit.v.st.peek() != nil || s.rate.v.pacer.st.peek() != nil ||
		s.rate.v.scope.st.peek() != nil || s.rate.v.accept.st.peek() != nil {
		t.Errorf("a host that only succeeded has state beyond its entry: %+v", s)
	}
}
