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
