package transport

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// A host that never throttled, refused, failed nor ran out of budget costs
// its entry alone: the pacer's curve, the scope's marks, the acceptance
// count, the circuit's clock and the budget's floor are allocated when a
// host first needs them. A client calling many hosts allocates one small
// entry per new host (bench/README: 100,000 hosts).
func TestAHostEntryIsSmall(t *testing.T) {
	const most = 256 // a size class of Go's allocator
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

// NewClientWith's layers look a call's host up once: Retry looks it up in
// the chain's table and hands the entry down, through Breaker, to
// RateLimit, which look up nothing. A retry to the same host looks it up
// again (a long wait may have seen its entry evicted); an attempt to
// another host (RetryPolicy.Hosts) is handed nothing: Breaker looks that
// host up, and hands it to RateLimit.
func TestOneHostLookupPerCall(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		hosts                  []string // RetryPolicy.Hosts
		sent                   []string // the attempts' hosts
		retry, breaker, limits []string // the hosts each layer looks up
	}{
		{"retried on its host", nil, []string{"a.test", "a.test"}, []string{"a.test", "a.test"}, nil, nil},
		{"failed over", []string{"a.test", "b.test"}, []string{"a.test", "b.test"}, []string{"a.test"}, []string{"b.test"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared := newSharedHosts(DefaultMaxHosts)
			var retry, breaker, rate []string
			budgets := countLookups(view(shared, func(s *hostSlots) *slot[hostBudget] { return &s.budget }), &retry)
			circuits := countLookups(view(shared, func(s *hostSlots) *slot[circuit] { return &s.circuit }), &breaker)
			rates := countLookups(view(shared, func(s *hostSlots) *slot[hostState] { return &s.rate }), &rate)
			var sent []string
			base := RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				sent = append(sent, req.URL.Host)
				code := http.StatusOK
				if len(sent) == 1 {
					code = http.StatusServiceUnavailable
				}
				return &http.Response{StatusCode: code, Body: http.NoBody, Request: req}, nil
			})
			rt := Chain(base,
				retryWith(RetryPolicy{BaseDelay: 1, MaxDelay: 1, Hosts: tc.hosts}, budgets, nil),
				breakerWith(BreakerOptions{}, circuits),
				rateLimitWith(RateLimitOptions{}, rates, nil))
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://a.test/", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !slices.Equal(sent, tc.sent) {
				t.Fatalf("status %d after attempts to %v, want 200 after %v", resp.StatusCode, sent, tc.sent)
			}
			if !slices.Equal(retry, tc.retry) || !slices.Equal(breaker, tc.breaker) || !slices.Equal(rate, tc.limits) {
				t.Errorf("lookups: Retry %v, Breaker %v, RateLimit %v; want %v, %v, %v", retry, breaker, rate, tc.retry, tc.breaker, tc.limits)
			}
		})
	}
}

// countLookups returns v, noting in seen each host it looks up.
func countLookups[T any](v hostView[T], seen *[]string) hostView[T] {
	lookup, ref := v.lookup, v.ref
	v.lookup = func(host string) *slot[T] { *seen = append(*seen, host); return lookup(host) }
	v.ref = func(host string) hostRef { *seen = append(*seen, host); return ref(host) }
	return v
}

// A slot is set up once, however many calls meet a new host at once, and
// none of them sees it before it is set up.
func TestASlotIsSetUpOnce(t *testing.T) {
	for range 100 {
		var s slot[[2]int]
		var inits atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				v := s.get(func(v *[2]int) { inits.Add(1); v[0], v[1] = 1, 2 })
				if v[0] != 1 || v[1] != 2 {
					t.Errorf("a get saw %v before the slot was set up", *v)
				}
			})
		}
		wg.Wait()
		if n := inits.Load(); n != 1 {
			t.Fatalf("set up %d times", n)
		}
	}
}
