package transport_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// dialsFor sends n GETs, c at a time, through a client over base, and
// returns the TCP connections base dialled.
func dialsFor(t *testing.T, base *http.Transport, url string, n, c int) int64 {
	t.Helper()
	var dials atomic.Int64
	dial := base.DialContext
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	t.Cleanup(base.CloseIdleConnections)
	client := transport.NewClientWith(transport.ClientOptions{Base: base})
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for range jobs {
				resp, err := client.Get(url)
				if !assert.NoError(t, err) {
					continue
				}
				readAll(t, resp)
			}
		})
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return dials.Load()
}

// NewClient's pool keeps enough idle connections per host for the calls in
// flight: 1,000 GETs at 8, 32 and 128-way concurrency open about as many
// connections as there are calls in flight, where cleanhttp's default
// (GOMAXPROCS+1 idle per host) closes and redials them.
func TestPoolOpensNoMoreThanTheConcurrencyNeeds(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("x"))
	for _, c := range []int{8, 32, 128} {
		ours := dialsFor(t, transport.DefaultPooledTransport(), srv.URL, 1000, c)
		theirs := dialsFor(t, cleanhttpPooled(), srv.URL, 1000, c)
		t.Logf("%3d-way: NewClient's pool opened %4d connections, cleanhttp's default %4d", c, ours, theirs)
		require.LessOrEqual(t, ours, int64(c)*3/2, "%d-way: more connections than the calls in flight need", c)
	}
}

func cleanhttpPooled() *http.Transport { return cleanhttp.DefaultPooledTransport() }
