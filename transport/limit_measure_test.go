package transport_test

import (
	"math/rand/v2"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

// oblivious is a server that does workers things at a time, each taking
// work, first come first served, and that does not notice a caller who
// left: the request stays in its queue, and its work is done for no one.
type oblivious struct {
	workers chan struct{}
	work    time.Duration
	late    atomic.Int64
}

func (s *oblivious) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.workers <- struct{}{}
		time.Sleep(s.work)
		<-s.workers
		if ctx.Err() != nil {
			s.late.Add(1)
		}
	}()
	select {
	case <-done:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return answer(http.StatusOK)(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// The measurements behind Limit's default (off), through NewClientWith with
// the limit off and on:
//
//   - a server without a shedder, 4 workers of 10 ms (400 calls a second),
//     its queue growing: open-loop callers at 1.5, 3 and 10 times that for
//     2 s, each call with 500 ms; calls served in time, and work done for
//     callers who had left, whether the server drops a request from its
//     queue when its caller leaves ("drops") or not ("keeps");
//   - healthy: 100 callers one call after another, 50 ms each, no queue;
//   - latency that varies by the call, no queue: 100 callers, one call in
//     ten a long poll of 1 to 5 s, the rest 20 ms; and service times spread
//     exponentially around 200 ms.
//
// The limit helps much under overload, and costs a healthy host a few
// percent, but it takes latency that varies by the call for a queue, and
// holds such a host to a fraction of what it serves.
func TestLimitMeasurements(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulation of some 100,000 calls")
	}
	client := func(on bool, base http.RoundTripper) *http.Client {
		return transport.NewClientWith(transport.ClientOptions{Base: base, Limit: transport.LimitOptions{Enabled: on}})
	}
	type row struct{ served, late [2]int64 }
	overload := func(factor float64, keeps bool) (r row) {
		for i, on := range []bool{false, true} {
			synctest.Test(t, func(t *testing.T) {
				if keeps {
					srv := &oblivious{workers: make(chan struct{}, 4), work: 10 * time.Millisecond}
					r.served[i] = int64(offer(client(on, srv), 400*factor, 2*time.Second, 500*time.Millisecond).served)
					time.Sleep(time.Minute) // its queue drains
					r.late[i] = srv.late.Load()
					return
				}
				srv := newShedding(4, 10*time.Millisecond, 0, nil)
				r.served[i] = int64(offer(client(on, srv), 400*factor, 2*time.Second, 500*time.Millisecond).served)
				r.late[i] = srv.late.Load()
			})
		}
		return r
	}
	for _, keeps := range []bool{false, true} {
		for _, factor := range []float64{1.5, 3, 10} {
			if raceEnabled && factor > 3 {
				continue // 8,000 calls: run without -race
			}
			r := overload(factor, keeps)
			queue := map[bool]string{false: "drops", true: "keeps"}[keeps]
			t.Logf("unprotected, %s, %4.1fx: served in time %4d off, %4d on; work for callers gone %4d off, %4d on",
				queue, factor, r.served[0], r.served[1], r.late[0], r.late[1])
			assert.Greater(t, r.served[1], r.served[0]*3/2, "the limit serves more in time")
			assert.Less(t, r.late[1], r.late[0]/10, "the limit wastes less work")
		}
	}
	closed := func(name string, latency func(*rand.Rand) time.Duration, d, deadline time.Duration) (served [2]int) {
		for i, on := range []bool{false, true} {
			synctest.Test(t, func(t *testing.T) {
				served[i] = closedLoop(client(on, latencyServer(latency)), 100, d, deadline)
			})
		}
		t.Logf("%s: served %d off, %d on (%+.0f%%)", name, served[0], served[1], 100*float64(served[1]-served[0])/float64(served[0]))
		return served
	}
	healthy := closed("healthy, 50 ms, 100 callers, 10 s", flat(50*time.Millisecond), 10*time.Second, 5*time.Second)
	assert.Greater(t, healthy[1], healthy[0]*9/10, "a healthy host is served about as much")
	if os.Getenv("RTCHAIN_MEASURE") == "" {
		return // the two below only measure: RTCHAIN_MEASURE=1 go test -run TestLimitMeasurements -v .
	}
	closed("long polls, 1 in 10 of 1-5 s, 100 callers, 30 s", func(r *rand.Rand) time.Duration {
		if r.IntN(10) == 0 {
			return time.Second + time.Duration(r.Int64N(int64(4*time.Second)))
		}
		return 20 * time.Millisecond
	}, 30*time.Second, 10*time.Second)
	closed("exponential, mean 200 ms, 100 callers, 30 s", func(r *rand.Rand) time.Duration {
		return time.Duration(r.ExpFloat64() * float64(200*time.Millisecond))
	}, 30*time.Second, 10*time.Second)
}
