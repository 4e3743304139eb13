package transport

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// An attempt that the acceptance throttle turns away is not in flight: the
// pacer counts it as sent only while it goes (the first cut of a pace, and
// an announced quota, take what is in flight into account).
func TestARejectedAttemptIsNotInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refusing := RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody, Request: req}, nil
		})
		shared := newSharedHosts(DefaultMaxHosts)
		rates := view(shared, func(s *hostSlots) *slot[hostState] { return &s.rate })
		rt := Chain(refusing, rateLimitWith(RateLimitOptions{}, rates, nil))
		var rejected int
		for range 2000 {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://a.test/", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				rejected++
				continue
			}
			resp.Body.Close()
			time.Sleep(time.Millisecond)
		}
		if rejected == 0 {
			t.Fatal("the throttle rejected nothing: the test tests nothing")
		}
		if n := shared.t.get("a.test").rate.v.pacer.inflight(); n != 0 {
			t.Errorf("%d attempts in flight after every call ended (%d rejected)", n, rejected)
		}
	})
}

// The first cut of a host's pace measures what the host was sent in the
// last second, not its history: after 10,000 calls at 10 a second, a host
// that throttles a burst of calls is paced at 0.7 of the burst's rate and
// the history's last second (about 14 a second), where the pacer used to
// count the 10,000 as sent within one second (about 7,000 a second).
func TestFirstCutMeasuresTheLastSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var throttle bool
		base := RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if throttle {
				return &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}, Body: http.NoBody, Request: req}, nil
			}
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
		})
		shared := newSharedHosts(DefaultMaxHosts)
		rates := view(shared, func(s *hostSlots) *slot[hostState] { return &s.rate })
		rt := Chain(base, rateLimitWith(RateLimitOptions{}, rates, nil))
		call := func() {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://a.test/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp, err := rt.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		}
		for range 10_000 {
			call()
			time.Sleep(100 * time.Millisecond)
		}
		throttle = true
		pacer := &shared.t.get("a.test").rate.v.pacer
		for range 50 {
			if pacer.paced.Load() {
				break
			}
			call()
		}
		if !pacer.paced.Load() {
			t.Fatal("50 throttles in a row did not pace the host")
		}
		s := pacer.st.peek()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.rate > 30 {
			t.Errorf("the first cut paced the host at %.0f a second, want at most 30: 0.7 of what it was sent in the last second", s.rate)
		}
	})
}
