package bench

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cristalhq/hedgedhttp"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bench/figures"
	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// hedger is one client, hedging or not. sharesBody: its hedges read the
// caller's one Body at once (hedgedhttp copies the request shallowly), a
// data race that -race reports, so its PUT is not run.
type hedger struct {
	name       string
	wrap       func(base http.RoundTripper) http.RoundTripper
	sharesBody bool
}

const hedgeDelay = 10 * time.Millisecond

func hedgers(t *testing.T) []hedger {
	return []hedger{
		{"no hedging", func(b http.RoundTripper) http.RoundTripper { return b }, false},
		{"rtchain Hedge, 10 ms", func(b http.RoundTripper) http.RoundTripper {
			return transport.Chain(b, transport.Hedge(transport.HedgeOptions{Delay: hedgeDelay}))
		}, false},
		{"rtchain Hedge, p95", func(b http.RoundTripper) http.RoundTripper {
			return transport.Chain(b, transport.Hedge(transport.HedgeOptions{Delay: hedgeDelay, Percentile: 0.95}))
		}, false},
		{"rtchain Hedge, p90", func(b http.RoundTripper) http.RoundTripper {
			return transport.Chain(b, transport.Hedge(transport.HedgeOptions{Delay: hedgeDelay, Percentile: 0.90}))
		}, false},
		{"hedgedhttp, 10 ms", func(b http.RoundTripper) http.RoundTripper {
			rt, err := hedgedhttp.NewRoundTripper(hedgeDelay, 2, b)
			if err != nil {
				t.Fatal(err)
			}
			return rt
		}, true},
		{"failsafe-go hedgepolicy, 10 ms", func(b http.RoundTripper) http.RoundTripper {
			return failsafehttp.NewRoundTripper(b, hedgepolicy.NewWithDelay[*http.Response](hedgeDelay))
		}, false},
	}
}

// tailServer takes 1 ms per request, but 300 ms one time in 20,
// independently (a seeded draw per request), as "The Tail at Scale" has it.
func tailServer(t *testing.T, requests *atomic.Int64) *htu.Server {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	return htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		mu.Lock()
		slow := rng.IntN(20) == 0
		mu.Unlock()
		d := time.Millisecond
		if slow {
			d = 300 * time.Millisecond
		}
		select {
		case <-time.After(d):
			_, _ = io.WriteString(w, "ok")
		case <-r.Context().Done():
		}
	}))
}

func quantile(s []time.Duration, q float64) time.Duration {
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

// TestHedgeFigures prints p50, p99, p99.9 and the extra requests of 2,000
// GETs (10 at a time) to tailServer, per client, in one run; and whether a
// 64 KiB PUT hedged after its first attempt stalled arrives whole on every
// attempt.
//
//	go test -run TestHedgeFigures -v .
func TestHedgeFigures(t *testing.T) {
	const calls = 2000
	var table strings.Builder
	table.WriteString("\n| client | p50 | p99 | p99.9 | extra requests | 64 KiB PUT, hedged: attempts that got the whole body |\n|---|---|---|---|---|---|\n")
	var data []figures.Hedged
	for _, h := range hedgers(t) {
		var requests atomic.Int64
		srv := tailServer(t, &requests)
		base := newBase(t)
		client := &http.Client{Transport: h.wrap(base)}
		lat := make([]time.Duration, calls)
		work := make(chan int)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				for i := range work {
					begun := time.Now()
					resp, err := client.Get(srv.URL)
					if err != nil {
						t.Errorf("%s: %v", h.name, err)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					lat[i] = time.Since(begun)
				}
			})
		}
		for i := range calls {
			work <- i
		}
		close(work)
		wg.Wait()
		slices.Sort(lat)
		ms := make([]float64, len(lat))
		for i, d := range lat {
			ms[i] = float64(d) / float64(time.Millisecond)
		}
		data = append(data, figures.Hedged{Client: h.name, LatencyMs: ms, ExtraShare: float64(requests.Load()-calls) / calls})
		put := "not run: its hedges share one Body"
		whole, sent := 0, 0
		if !h.sharesBody {
			whole, sent = putWhole(t, h)
			put = fmt.Sprintf("%d of %d", whole, sent)
		}
		fmt.Fprintf(&table, "| %s | %v | %v | %v | %.1f%% | %s |\n", h.name,
			quantile(lat, 0.5).Round(100*time.Microsecond), quantile(lat, 0.99).Round(100*time.Microsecond),
			quantile(lat, 0.999).Round(100*time.Microsecond),
			100*float64(requests.Load()-calls)/calls, put)
		if !strings.HasPrefix(h.name, "rtchain") {
			continue
		}
		if whole != sent {
			t.Errorf("%s: %d of %d attempts got the whole body", h.name, whole, sent)
		}
		if extra := float64(requests.Load()-calls) / calls; extra > 0.10 {
			t.Errorf("%s: %.1f%% extra requests", h.name, 100*extra)
		}
		// The latency goal is held for the fixed delay only: the adaptive
		// rows depend on how wide the fast mode is (under -race, or on a
		// loaded machine, their delay hedges more calls than the budget
		// allows, and slow calls go unhedged); they are shown, not held.
		if strings.HasSuffix(h.name, "10 ms") {
			if p99 := quantile(lat, 0.99); p99 > 5*2*time.Millisecond+hedgeDelay+20*time.Millisecond {
				t.Errorf("%s: p99 %v", h.name, p99)
			}
		}
	}
	t.Log(table.String())
	require.NoError(t, figures.Save("hedging", data))
}

// putWhole PUTs 64 KiB through h to a server whose first attempt stalls
// after reading the body, and reports how many attempts read the whole body.
func putWhole(t *testing.T, h hedger) (whole, sent int) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4<<10)
	want := sha256.Sum256(body)
	var mu sync.Mutex
	var n int
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		first := n == 1
		sent++
		if sha256.Sum256(b) == want {
			whole++
		}
		mu.Unlock()
		if first {
			select {
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "stored")
	}))
	client := &http.Client{Transport: h.wrap(newBase(t))}
	req, _ := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(body))
	if resp, err := client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	return whole, sent
}
