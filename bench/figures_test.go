package bench

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bench/figures"
	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// The measurements below exist for the charts only (cmd/figures runs them,
// with RTCHAIN_FIGURES set); the tests that hold the goals are elsewhere.

// sendLog is a base that notes when each request left and how it ended.
type sendLog struct {
	next   http.RoundTripper
	start  time.Time
	mu     sync.Mutex
	sent   []float64
	status []int
}

func (l *sendLog) RoundTrip(req *http.Request) (*http.Response, error) {
	at := time.Since(l.start).Seconds()
	resp, err := l.next.RoundTrip(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	l.mu.Lock()
	l.sent, l.status = append(l.sent, at), append(l.status, code)
	l.mu.Unlock()
	return resp, err
}

// The throttling workload over time: an origin that admits 20 requests a
// second (a bucket of 10) and answers 429 + Retry-After: 1 beyond it; 10
// workers, 200 GETs, rtchain's NewClient beside go-retryablehttp.
func TestThrottlingOverTime(t *testing.T) {
	if !figures.Enabled() {
		t.Skip("for the charts: cd bench && go run ./cmd/figures")
	}
	const limit, burst, calls = 20, 10, 200
	data := figures.Throttling{Limit: limit, Burst: burst, Calls: calls}
	for _, c := range []struct {
		name string
		new  func(base http.RoundTripper) *http.Client
	}{
		{"rtchain NewClient", func(base http.RoundTripper) *http.Client {
			return transport.NewClientWith(transport.ClientOptions{Base: base})
		}},
		{"go-retryablehttp", func(base http.RoundTripper) *http.Client {
			rc := retryablehttp.NewClient()
			rc.Logger = nil
			rc.HTTPClient = &http.Client{Transport: base}
			return rc.StandardClient()
		}},
	} {
		origin := htu.RateLimited(limit, burst, time.Second, htu.OK("ok"))
		srv := htu.NewServer(t, origin)
		pooled := cleanhttp.DefaultPooledTransport()
		t.Cleanup(pooled.CloseIdleConnections)
		log := &sendLog{next: pooled, start: time.Now()}
		res := htu.Load(c.new(log), srv.URL, 10, calls)
		t.Logf("%s: %d of %d in %v, %d requests", c.name, res.OK, calls, res.Took.Round(time.Millisecond), len(log.sent))
		data.Clients = append(data.Clients, figures.Throttled{Client: c.name, Sent: log.sent, Status: log.status})
	}
	require.NoError(t, figures.Save("throttling", data))
}

// Peak heap against body size: a PUT from a plain reader (no GetBody, no
// length), answered 503 and then 200, per client, one call per size.
func TestBodyReplayBySize(t *testing.T) {
	if !figures.Enabled() {
		t.Skip("for the charts: cd bench && go run ./cmd/figures")
	}
	sizes := []int64{1, 4, 16, 64, 256} // MiB
	var data []figures.Replayed
	for _, lib := range Libs[1:] {
		srv := httptest.NewServer(cycling(2))
		rt := lib.Wrap(newBase(t), false)
		r := figures.Replayed{Client: lib.Name}
		for _, mib := range sizes {
			runtime.GC()
			stop := heapPeak()
			req, _ := http.NewRequest(http.MethodPut, srv.URL, streamOnly(mib<<20))
			code, err := roundTrip(t, rt, req)
			peak := stop()
			require.NoError(t, err)
			if code != http.StatusOK {
				get(t, rt, srv.URL) // not retried: realign the server
			}
			r.SizeMiB = append(r.SizeMiB, float64(mib))
			r.PeakMiB = append(r.PeakMiB, float64(peak)/(1<<20))
		}
		srv.Close()
		t.Logf("%s: peak heap %v MiB for %v MiB", lib.Name, r.PeakMiB, r.SizeMiB)
		data = append(data, r)
	}
	require.NoError(t, figures.Save("replay", data))
}
