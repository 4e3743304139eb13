package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

// shedding is a server that can do workers things at a time, each taking
// work, in front of which a load shedder lets at most limit requests in
// and answers the rest at once with refusal (429 or 503) and header: the
// issue's service, simulated in a synctest bubble so that only time counts,
// not the machine's cores.
type shedding struct {
	workers  chan struct{}
	work     time.Duration
	limit    int64
	refusal  func() *http.Response
	inflight atomic.Int64
	sent     atomic.Int64 // requests the server saw
	late     atomic.Int64 // work done for a caller who had left
}

func newShedding(workers int, work time.Duration, limit int64, refusal func() *http.Response) *shedding {
	return &shedding{workers: make(chan struct{}, workers), work: work, limit: limit, refusal: refusal}
}

func (s *shedding) RoundTrip(req *http.Request) (*http.Response, error) {
	s.sent.Add(1)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if s.limit > 0 && s.inflight.Add(1) > s.limit {
		s.inflight.Add(-1)
		return s.refusal(), nil
	}
	defer s.inflight.Add(-1)
	ctx := req.Context()
	select {
	case s.workers <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	time.Sleep(s.work)
	<-s.workers
	if ctx.Err() != nil {
		s.late.Add(1)
		return nil, ctx.Err()
	}
	return answer(http.StatusOK)(), nil
}

// overloadRun is what an open-loop load measured: calls served in time.
type overloadRun struct {
	served, calls int
	sent          int64
}

// offer sends rate calls a second for d, each on its own goroutine with
// deadline, through client, and counts those served in time.
func offer(client *http.Client, rate float64, d, deadline time.Duration) overloadRun {
	interval := time.Duration(float64(time.Second) / rate)
	var served atomic.Int64
	var wg sync.WaitGroup
	n := int(d / interval)
	for i := range n {
		if i > 0 {
			time.Sleep(interval)
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc.test/", nil)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && ctx.Err() == nil {
				served.Add(1)
			}
		})
	}
	wg.Wait()
	return overloadRun{served: int(served.Load()), calls: n}
}

// A server that sheds its excess is kept busy, not abandoned: through
// NewClient it serves at least as many calls in time as through a bare
// client, whatever its refusals say (503 alone, 429 or 503 with a
// Retry-After longer than every caller's deadline, a wait in milliseconds),
// at 1.5, 3 and 10 times its capacity. The service does 4 things at a time,
// 10 ms each (400 calls a second); the shedder lets 6 in; callers give each
// call 500 ms.
func TestASheddingServerIsKeptBusy(t *testing.T) {
	for _, shedder := range []struct {
		name    string
		refusal func() *http.Response
	}{
		{"503", answer(http.StatusServiceUnavailable)},
		{"429, Retry-After: 1", answer(http.StatusTooManyRequests, "Retry-After", "1")},
		{"503, Retry-After: 1", answer(http.StatusServiceUnavailable, "Retry-After", "1")},
		{"429, retry-after-ms: 20", answer(http.StatusTooManyRequests, "Retry-After-Ms", "20")},
	} {
		refusal := shedder.refusal
		for _, factor := range []float64{1.5, 3, 10} {
			t.Run(fmt.Sprintf("%s at %gx", shedder.name, factor), func(t *testing.T) {
				if raceEnabled && factor > 3 {
					t.Skip("8,000 calls: run without -race")
				}
				var bare, rt overloadRun
				synctest.Test(t, func(t *testing.T) {
					srv := newShedding(4, 10*time.Millisecond, 6, refusal)
					bare = offer(&http.Client{Transport: srv}, 400*factor, 2*time.Second, 500*time.Millisecond)
					bare.sent = srv.sent.Load()
				})
				synctest.Test(t, func(t *testing.T) {
					srv := newShedding(4, 10*time.Millisecond, 6, refusal)
					rt = offer(transport.NewClientWith(transport.ClientOptions{Base: srv}), 400*factor, 2*time.Second, 500*time.Millisecond)
					rt.sent = srv.sent.Load()
				})
				t.Logf("bare: %d of %d served in time (%d sent); NewClient: %d (%d sent)", bare.served, bare.calls, bare.sent, rt.served, rt.sent)
				assert.GreaterOrEqual(t, rt.served, bare.served*97/100, "NewClient served fewer calls in time than a bare client")
			})
		}
	}
}

// refusingShare refuses, with refusal, each attempt but one in every `of`,
// whatever the rate: a flaky server, or one that throttles whatever the
// rate. Sending it less gets less through.
type refusingShare struct {
	of      int64
	refusal func() *http.Response
	n, sent atomic.Int64
}

func (s *refusingShare) RoundTrip(req *http.Request) (*http.Response, error) {
	s.sent.Add(1)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	time.Sleep(5 * time.Millisecond)
	if s.n.Add(1)%s.of != 0 {
		return s.refusal(), nil
	}
	return answer(http.StatusOK)(), nil
}

// The throttle is on trial: against a server that refuses three attempts
// in four whatever the rate, throttling would only fail calls that a retry
// gets through, so NewClient serves at least what a bare client does.
func TestAServerThatRefusesWhateverTheRateIsNotThrottled(t *testing.T) {
	for _, server := range []struct {
		name    string
		refusal func() *http.Response
	}{
		{"503", answer(http.StatusServiceUnavailable)},
		{"429, Retry-After: 1", answer(http.StatusTooManyRequests, "Retry-After", "1")},
	} {
		refusal := server.refusal
		t.Run(server.name, func(t *testing.T) {
			var bare, rt overloadRun
			synctest.Test(t, func(t *testing.T) {
				srv := &refusingShare{of: 4, refusal: refusal}
				bare = offer(&http.Client{Transport: srv}, 200, 10*time.Second, 2*time.Second)
				bare.sent = srv.sent.Load()
			})
			synctest.Test(t, func(t *testing.T) {
				srv := &refusingShare{of: 4, refusal: refusal}
				rt = offer(transport.NewClientWith(transport.ClientOptions{Base: srv}), 200, 10*time.Second, 2*time.Second)
				rt.sent = srv.sent.Load()
			})
			t.Logf("bare: %d of %d served in time (%d sent); NewClient: %d (%d sent)", bare.served, bare.calls, bare.sent, rt.served, rt.sent)
			assert.GreaterOrEqual(t, rt.served, bare.served, "NewClient served fewer calls in time than a bare client")
		})
	}
}
