package transport_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/transport"
)

// ClientOptions.Trace sees each event of a call once, as a Trace in the
// call's context does (which is told too), with Hedge on or off: a retry
// after a 429, the end of a call, and an attempt held back by RateLimit.
func TestClientTraceSeesEveryEventOnce(t *testing.T) {
	for _, hedged := range []bool{false, true} {
		name := "no hedge"
		if hedged {
			name = "hedge on"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &scripted{resps: []func() *http.Response{answer(429, "Retry-After", "1"), answer(200)}}
				var lines []string
				o := transport.ClientOptions{Base: s, Trace: recorder("client", &lines), Timeout: -1, BodyStallTimeout: -1,
					RateLimit: transport.RateLimitOptions{Limiter: rate.NewLimiter(rate.Every(time.Second), 1)}}
				if hedged {
					o.Hedge = transport.HedgeOptions{Delay: time.Minute}
				}
				rt := transport.NewClientWith(o).Transport
				ctx := transport.WithTrace(context.Background(), recorder("call", &lines))
				code, err := statusIn(t, ctx, rt, "http://a.test/")
				require.NoError(t, err)
				assert.Equal(t, 200, code)
				assert.ElementsMatch(t, []string{
					"call retry #1 Too Many Requests wait=1s ra=true",
					"client retry #1 Too Many Requests wait=1s ra=true",
					"call end attempts=2 status=200 err=false",
					"client end attempts=2 status=200 err=false",
				}, lines)
				lines = nil
				// The next call is held back by the limiter: the retry took
				// its token a moment ago.
				_, err = statusIn(t, context.Background(), rt, "http://a.test/")
				require.NoError(t, err)
				assert.Equal(t, []string{"client paced limit 1s", "client end attempts=1 status=200 err=false"}, lines)
			})
		})
	}
}

// The client's own Trace costs a call no allocation: the layers hold it.
func TestClientTraceAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	calls := 0
	tr := &transport.Trace{CallEnd: func(transport.CallEndEvent) { calls++ }}
	base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
	})
	plain := transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: -1, BodyStallTimeout: -1}).Transport
	traced := transport.NewClientWith(transport.ClientOptions{Base: base, Timeout: -1, BodyStallTimeout: -1, Trace: tr}).Transport
	req, err := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	require.NoError(t, err)
	allocs := func(rt http.RoundTripper) float64 {
		return testing.AllocsPerRun(100, func() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
	assert.Equal(t, allocs(plain), allocs(traced))
	assert.Equal(t, 101, calls, "CallEnd once a call")
}
