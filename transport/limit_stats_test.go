package transport_test

import (
	"net/http"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

type hostFigures struct{ limit, inFlight, waiting int }

func readStats(s *transport.LimitStats) map[string]hostFigures {
	got := map[string]hostFigures{}
	s.Each(func(host string, limit, inFlight, waiting int) {
		_, twice := got[host]
		if twice {
			host += " (twice)"
		}
		got[host] = hostFigures{limit, inFlight, waiting}
	})
	return got
}

// LimitStats shows each host's limit and what is in flight to it, summed
// over the layers that share it, and forgets a layer that was dropped.
func TestLimitStatsReadsTheLayers(t *testing.T) {
	var stats transport.LimitStats
	assert.Empty(t, readStats(&stats), "no layer yet")

	arrived := make(chan struct{})
	release := make(chan struct{})
	base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		arrived <- struct{}{}
		<-release
		return answer(http.StatusOK)(), nil
	})
	opts := transport.LimitOptions{Enabled: true, Initial: 3, Stats: &stats}
	a := transport.Limit(opts)(base)
	b := transport.Limit(opts)(base)

	var wg sync.WaitGroup
	call := func(rt http.RoundTripper, url string) {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if !assert.NoError(t, err) {
				return
			}
			resp, err := rt.RoundTrip(req)
			if assert.NoError(t, err) {
				resp.Body.Close()
			}
		})
		<-arrived
	}
	call(a, "http://one.example/")
	call(b, "http://one.example/")
	call(a, "http://two.example/")
	call(b, "http://three.example/")
	assert.Equal(t, map[string]hostFigures{
		"one.example":   {limit: 6, inFlight: 2},
		"two.example":   {limit: 3, inFlight: 1},
		"three.example": {limit: 3, inFlight: 1},
	}, readStats(&stats))
	close(release)
	wg.Wait()
	for host, f := range readStats(&stats) {
		assert.Zero(t, f.inFlight, host)
		assert.Zero(t, f.waiting, host)
	}

	// b dropped: the host only it called is gone.
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
	got := readStats(&stats)
	assert.NotContains(t, got, "three.example")
	require.Contains(t, got, "one.example")
	require.Contains(t, got, "two.example")
	runtime.KeepAlive(a)
	a = nil
	runtime.GC()
	assert.Empty(t, readStats(&stats), "every layer dropped")
}
