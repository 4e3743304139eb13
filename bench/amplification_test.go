package bench

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rtchain/rtchain/bench/figures"
	htu "github.com/rtchain/rtchain/httptestutil"
)

// Each library against a server that answers 503 to everything: 1,000
// calls, 10 at a time, MaxRetries 3, each library with its defaults for
// budgets. go test -run TestOutageAmplification -v .
func TestOutageAmplification(t *testing.T) {
	const calls = 1000
	libs := append([]Lib{}, Libs[1:]...)
	libs = append(libs, retryOnly) // the budget alone, without the default chain's breaker
	var data []figures.Amplified
	for _, lib := range libs {
		t.Run(lib.Name, func(t *testing.T) {
			srv := htu.NewServer(t, htu.Status(http.StatusServiceUnavailable))
			rt := lib.Wrap(newBase(t), true)
			work := make(chan struct{})
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					for range work {
						req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
						_, _ = roundTrip(t, rt, req)
					}
				})
			}
			for range calls {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			ratio := float64(srv.Count()) / calls
			t.Logf("%-20s %.2f requests per call", lib.Name, ratio)
			data = append(data, figures.Amplified{Client: lib.Name, Ratio: ratio})
			if strings.HasPrefix(lib.Name, "rtchain") && ratio > 1.2 {
				t.Errorf("rtchain amplified an outage %.2f×, want ≤ 1.2×", ratio)
			}
		})
	}
	if err := figures.Save("amplification", data); err != nil {
		t.Fatal(err)
	}
}

// Every library as configured here really retries: the comparisons above
// compare like with like.
func TestLibsRetry(t *testing.T) {
	for _, lib := range Libs[1:] {
		t.Run(lib.Name, func(t *testing.T) {
			srv := htu.NewServer(t, cycling(3))
			rt := lib.Wrap(newBase(t), false)
			if code := get(t, rt, srv.URL); code != http.StatusOK {
				t.Fatalf("status %d after retries", code)
			}
			if n := srv.Count(); n != 3 {
				t.Fatalf("server saw %d requests, want 3", n)
			}
		})
	}
}
