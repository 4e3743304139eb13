package transport_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

func hostOf(t *testing.T, s *htu.Server) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	require.NoError(t, err)
	return u.Host
}

func TestFailoverToTheNextHost(t *testing.T) {
	a := htu.NewServer(t, htu.Status(503))
	b := htu.NewServer(t, htu.OK("from b"))
	client, _ := newRetrying(t, fast(transport.RetryPolicy{Hosts: []string{hostOf(t, a), hostOf(t, b)}}))
	req := newRequest(t, context.Background(), http.MethodPut, a.URL+"/item?x=1", strings.NewReader("v"))
	before := snap(req)
	resp, err := client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, "from b", readAll(t, resp))
	assert.Equal(t, 1, a.Count())
	require.Equal(t, 1, b.Count())
	got := b.Requests()[0]
	assert.Equal(t, "/item", got.URL.Path)
	assert.Equal(t, "x=1", got.URL.RawQuery)
	assert.Equal(t, "v", string(got.Body))
	requireUnchanged(t, req, before)
}

func TestFailoverPastAnOpenCircuit(t *testing.T) {
	a := htu.NewServer(t, htu.Status(500))
	b := htu.NewServer(t, htu.OK("from b"))
	base := pooledBase(t)
	rt := transport.Chain(base,
		transport.Retry(fast(transport.RetryPolicy{Hosts: []string{hostOf(t, a), hostOf(t, b)}})),
		transport.Breaker(transport.BreakerOptions{MinRequests: 1}))
	client := &http.Client{Transport: rt}

	resp, err := client.Get(a.URL) // a fails: its circuit opens; the retry goes to b
	require.NoError(t, err)
	readAll(t, resp)

	// A POST without a key is not retried once sent; an open circuit
	// proves it was not, so it goes on to b.
	resp, err = client.Post(a.URL+"/pay", "text/plain", strings.NewReader("10"))
	require.NoError(t, err)
	assert.Equal(t, "from b", readAll(t, resp))
	assert.Equal(t, 1, a.Count(), "a saw only the first GET")
	reqs := b.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "10", string(reqs[1].Body))
}

func TestFailoverHostsAreValidated(t *testing.T) {
	assert.Panics(t, func() { transport.Retry(transport.RetryPolicy{Hosts: []string{"https://a.example"}}) })
}

// A call addressed to a host that is not in Hosts is never sent to one
// that is, even when its own circuit is open: its credentials were given
// for its own host, and a replica's answer is not that host's (issue 33:
// a third party's token went to an internal replica, and the caller got the
// replica's 200 as the third party's answer). The same for a hedge.
func TestNoFailoverFromAHostOutsideTheList(t *testing.T) {
	t.Run("Retry", func(t *testing.T) {
		a := htu.NewServer(t, htu.Status(500))
		b := htu.NewServer(t, htu.OK("from b"))
		shared := transport.Breaker(transport.BreakerOptions{MinRequests: 1, CoolDown: time.Hour})(pooledBase(t))
		opener := transport.Chain(shared, transport.Retry(fast(transport.RetryPolicy{MaxRetries: -1})))
		require.NoError(t, do(t, opener, context.Background(), a.URL)) // a's 500 opens its circuit
		client := &http.Client{Transport: transport.Chain(shared,
			transport.Retry(fast(transport.RetryPolicy{Hosts: []string{hostOf(t, b)}})))}
		req := newRequest(t, context.Background(), http.MethodGet, a.URL, nil)
		req.Header.Set("Authorization", "Bearer a-token")
		_, err := client.Do(req)
		require.ErrorIs(t, err, transport.ErrCircuitOpen, "a refuses, and nothing else may answer for it")
		assert.Equal(t, 1, a.Count())
		assert.Zero(t, b.Count(), "a's token never went to b")
	})
	t.Run("Hedge", func(t *testing.T) {
		slow := make(chan struct{})
		t.Cleanup(func() { close(slow) })
		a := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-slow:
			case <-r.Context().Done():
			case <-time.After(50 * time.Millisecond):
			}
			_, _ = w.Write([]byte("from a"))
		}))
		b := htu.NewServer(t, htu.OK("from b"))
		rt := transport.Chain(pooledBase(t),
			transport.Hedge(transport.HedgeOptions{Delay: time.Millisecond, Hosts: []string{hostOf(t, b), "127.0.0.1:1"}}),
			transport.Retry(fast(transport.RetryPolicy{})))
		req := newRequest(t, context.Background(), http.MethodGet, a.URL, nil)
		req.Header.Set("Authorization", "Bearer a-token")
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, "from a", readAll(t, resp))
		assert.Zero(t, b.Count(), "a hedge of a's call stays on a")
	})
}

// A dead instance among Hosts: once its circuit opens, calls start on the
// healthy one, refusals spend no retry budget, and every keyed call succeeds.
func TestFailoverAroundADeadInstance(t *testing.T) {
	dead := htu.NewServer(t, htu.Reset())
	live := htu.NewServer(t, htu.OK("paid"))
	var retries atomic.Int32
	client := transport.NewClientWith(transport.ClientOptions{
		Base: pooledBase(t),
		Retry: transport.RetryPolicy{
			Hosts:   []string{hostOf(t, dead), hostOf(t, live)},
			OnRetry: func(transport.RetryEvent) { retries.Add(1) },
		},
	})
	var ok atomic.Int32
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range jobs {
				req := newRequest(t, context.Background(), http.MethodPost, dead.URL+"/pay", strings.NewReader("10"))
				req.Header.Set("Idempotency-Key", newKey())
				resp, err := client.Do(req)
				if err == nil {
					if readAll(t, resp) == "paid" {
						ok.Add(1)
					}
				}
			}
		})
	}
	for range 400 {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d of 400 calls succeeded; the dead instance saw %d; %d retries", ok.Load(), dead.Count(), retries.Load())
	assert.Equal(t, int32(400), ok.Load())
	assert.Less(t, dead.Count(), 100, "the dead instance's circuit opened")
	assert.Less(t, retries.Load(), int32(100), "calls start on the live instance, not on the open circuit")
}

var keys atomic.Int64

func newKey() string { return "key-" + strconv.FormatInt(keys.Add(1), 10) }

// When every host's circuit is open, a call stops after each has refused
// it once, with the breaker's error: refusals send nothing, and asking the
// same open circuits again would spend the call's retries in a loop.
func TestFailoverStopsWhenEveryCircuitIsOpen(t *testing.T) {
	a := htu.NewServer(t, htu.Status(500))
	b := htu.NewServer(t, htu.Status(500))
	var retries atomic.Int32
	rt := transport.Chain(pooledBase(t),
		transport.Retry(fast(transport.RetryPolicy{MaxRetries: 12, Hosts: []string{hostOf(t, a), hostOf(t, b)},
			OnRetry: func(transport.RetryEvent) { retries.Add(1) }})),
		transport.Breaker(transport.BreakerOptions{MinRequests: 1, CoolDown: time.Hour}))
	client := &http.Client{Transport: rt}

	// a and b answer 500 and their circuits open; then each refuses once.
	_, err := client.Get(a.URL)
	require.ErrorIs(t, err, transport.ErrCircuitOpen)
	assert.Equal(t, int32(3), retries.Load(), "a, b, a refused, b refused: then every circuit is known open")
	assert.Equal(t, 1, a.Count())
	assert.Equal(t, 1, b.Count())

	retries.Store(0)
	_, err = client.Get(a.URL)
	require.ErrorIs(t, err, transport.ErrCircuitOpen)
	assert.Contains(t, err.Error(), "after 1 attempt:", "a refused; b is known open: nothing more to ask")
	assert.Zero(t, retries.Load())
}
