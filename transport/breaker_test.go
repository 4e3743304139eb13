package transport_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// switchable answers with code (settable) and counts requests.
type switchable struct {
	mu   sync.Mutex
	code int
	n    int
	hold chan struct{} // when set, each request waits for it
}

func (s *switchable) set(code int) { s.mu.Lock(); s.code = code; s.mu.Unlock() }

func (s *switchable) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.n }

func (s *switchable) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.n++
	code, hold := s.code, s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return answer(code)(), nil
}

type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) hook(host string, from, to transport.BreakerState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, fmt.Sprintf("%s:%v>%v", host, from, to))
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.got...)
}

func statusOf(t *testing.T, rt http.RoundTripper, url string) (int, error) {
	t.Helper()
	return statusIn(t, context.Background(), rt, url)
}

// statusIn is statusOf with the request's context.
func statusIn(t *testing.T, ctx context.Context, rt http.RoundTripper, url string) (int, error) {
	t.Helper()
	resp, err := rt.RoundTrip(newRequest(t, ctx, http.MethodGet, url, nil))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestBreakerStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &switchable{code: 500}
		var tr transitions
		rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{
			MinRequests: 4, FailureRatio: 0.5, CoolDown: 5 * time.Second, Probes: 2, OnStateChange: tr.hook,
		}))
		for range 4 {
			code, err := statusOf(t, rt, "http://a.test/")
			require.NoError(t, err)
			assert.Equal(t, 500, code)
		}
		_, err := statusOf(t, rt, "http://a.test/")
		require.ErrorIs(t, err, transport.ErrCircuitOpen)
		var open *transport.CircuitOpenError
		require.ErrorAs(t, err, &open)
		assert.Equal(t, time.Now().Add(5*time.Second), open.Until)
		assert.Equal(t, 4, base.count(), "an open circuit does not touch the network")

		code, err := statusOf(t, rt, "http://b.test/")
		require.NoError(t, err, "other hosts are not affected")
		assert.Equal(t, 500, code)

		time.Sleep(5 * time.Second)
		base.set(200)
		for range 2 {
			code, err := statusOf(t, rt, "http://a.test/")
			require.NoError(t, err)
			assert.Equal(t, 200, code)
		}
		assert.Equal(t, []string{"a.test:closed>open", "a.test:open>half-open", "a.test:half-open>closed"}, tr.list())

		// Closed again: it takes a new run of failures to open.
		base.set(500)
		for range 3 {
			_, err := statusOf(t, rt, "http://a.test/")
			require.NoError(t, err)
		}
		_, err = statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		_, err = statusOf(t, rt, "http://a.test/")
		require.ErrorIs(t, err, transport.ErrCircuitOpen)
	})
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &switchable{code: 500}
		var tr transitions
		rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{MinRequests: 1, CoolDown: time.Second, OnStateChange: tr.hook}))
		_, _ = statusOf(t, rt, "http://a.test/")
		time.Sleep(time.Second)
		code, err := statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		assert.Equal(t, 500, code)
		_, err = statusOf(t, rt, "http://a.test/")
		require.ErrorIs(t, err, transport.ErrCircuitOpen)
		assert.Equal(t, []string{"a.test:closed>open", "a.test:open>half-open", "a.test:half-open>open"}, tr.list())
	})
}

func TestBreakerHalfOpenLetsOnlyProbesThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &switchable{code: 500}
		rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{MinRequests: 1, CoolDown: time.Second, Probes: 2}))
		_, _ = statusOf(t, rt, "http://a.test/")
		time.Sleep(time.Second)
		base.set(200)
		hold := make(chan struct{})
		base.mu.Lock()
		base.hold = hold
		base.mu.Unlock()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { _, _ = statusOf(t, rt, "http://a.test/") })
		}
		synctest.Wait() // both probes are in flight
		_, err := statusOf(t, rt, "http://a.test/")
		require.ErrorIs(t, err, transport.ErrCircuitOpen, "a third request while two probes are out")
		close(hold)
		wg.Wait()
		code, err := statusOf(t, rt, "http://a.test/")
		require.NoError(t, err)
		assert.Equal(t, 200, code)
	})
}

func TestBreakerCountsOnlyHostFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &switchable{code: 404}
		rt := transport.Chain(base, transport.Breaker(transport.BreakerOptions{MinRequests: 2}))
		for range 10 {
			code, err := statusOf(t, rt, "http://a.test/")
			require.NoError(t, err)
			assert.Equal(t, 404, code)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		failing := transport.Chain(transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			return nil, r.Context().Err()
		}), transport.Breaker(transport.BreakerOptions{MinRequests: 1}))
		for range 3 {
			_, err := failing.RoundTrip(newRequest(t, ctx, http.MethodGet, "http://a.test/", nil))
			require.ErrorIs(t, err, context.Canceled, "the caller giving up says nothing of the host")
		}
	})
}

func TestBreakerInsideRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &switchable{code: 500}
		l, records, _ := jsonLogger(slog.LevelDebug)
		rt := transport.Chain(base,
			transport.Logging(transport.LogOptions{Logger: l}),
			transport.Retry(transport.RetryPolicy{}),
			transport.Breaker(transport.BreakerOptions{MinRequests: 1, OnStateChange: transport.LogBreakerChanges(l)}))
		_, err := statusOf(t, rt, "http://a.test/")
		require.ErrorIs(t, err, transport.ErrCircuitOpen)
		var rerr *transport.RetryError
		require.True(t, errors.As(err, &rerr))
		assert.Equal(t, 2, rerr.Attempts)
		assert.Equal(t, 1, base.count(), "the retry was not sent to the open circuit")
		var saw bool
		for _, r := range records(t) {
			if r["msg"] == "circuit state" {
				saw = true
				assert.Equal(t, "WARN", r["level"])
				assert.Equal(t, "open", r["to"])
			}
		}
		assert.True(t, saw, "LogBreakerChanges logs the state change")
	})
}
