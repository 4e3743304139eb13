package bench

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/rtchain/rtchain/transport"
)

// BenchmarkOverheadHosts is BenchmarkOverhead's bodiless GET over a canned
// base, through rtchain's default chain, spread round-robin over 1 to
// 100,000 hosts: what per-host state (retry budget, circuit, cool-down)
// costs as the hosts grow past what the tables hold (DefaultMaxHosts).
//
// Run: go test -run '^$' -bench OverheadHosts -benchmem -count 6 .
func BenchmarkOverheadHosts(b *testing.B) {
	for _, n := range []int{1, 1_000, 10_000, 100_000} {
		reqs := make([]*http.Request, n)
		for i := range reqs {
			var err error
			reqs[i], err = http.NewRequestWithContext(context.Background(), http.MethodGet, fmt.Sprintf("http://h%d.api.test/items?id=1", i), nil)
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, lib := range []Lib{Libs[0], Libs[1]} { // bare, rtchain
			b.Run(fmt.Sprintf("%s/hosts=%d", lib.Name, n), func(b *testing.B) {
				rt := lib.Wrap(canned, true)
				for _, req := range reqs { // every host seen once: the steady state
					roundTripCanned(b, rt, req)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					roundTripCanned(b, rt, reqs[i])
					if i++; i == n {
						i = 0
					}
				}
			})
		}
	}
}

func roundTripCanned(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// TestDefaultMaxHostsCoversTheBenchmark keeps the claim of the hosts table
// in bench/README honest: 10,000 hosts fit in the default tables.
func TestDefaultMaxHostsCoversTheBenchmark(t *testing.T) {
	if transport.DefaultMaxHosts < 10_000 {
		t.Fatalf("DefaultMaxHosts is %d: 10,000 hosts no longer fit", transport.DefaultMaxHosts)
	}
}
