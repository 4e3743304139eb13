package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/transport"
)

// recorder is a Trace that writes each event it sees as a line, prefixed
// with its name.
func recorder(name string, lines *[]string) *transport.Trace {
	return &transport.Trace{
		Retry: func(e transport.RetryEvent) {
			*lines = append(*lines, fmt.Sprintf("%s retry #%d %s wait=%v ra=%v", name, e.Attempt.Number, e.Reason(), e.Wait, e.FromRetryAfter))
		},
		GiveUp: func(e transport.GiveUpEvent) {
			*lines = append(*lines, fmt.Sprintf("%s give-up #%d %s", name, e.Attempt.Number, e.Reason))
		},
		Paced: func(e transport.PacedEvent) {
			*lines = append(*lines, fmt.Sprintf("%s paced %s %v", name, e.Reason, e.Wait))
		},
		CallEnd: func(e transport.CallEndEvent) {
			status := 0
			if e.Response != nil {
				status = e.Response.StatusCode
			}
			*lines = append(*lines, fmt.Sprintf("%s end attempts=%d status=%d err=%v", name, e.Attempts, status, e.Err != nil))
		},
	}
}

// One call, 503 (Retry-After: 1) then 503 then a give-up on MaxRetries: each
// event reaches the context's Traces (the newer first) and the policy's
// hooks, once each.
func TestTraceSeesEveryEventOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{resps: []func() *http.Response{answer(503, "Retry-After", "1"), answer(503)}}
		var lines []string
		rt := transport.Chain(s, transport.Retry(transport.RetryPolicy{
			MaxRetries: 1,
			BaseDelay:  time.Millisecond,
			OnRetry:    func(e transport.RetryEvent) { lines = append(lines, fmt.Sprintf("policy retry #%d", e.Attempt.Number)) },
			OnGiveUp: func(e transport.GiveUpEvent) {
				lines = append(lines, fmt.Sprintf("policy give-up %s", e.Reason))
			},
		}))
		ctx := transport.WithTrace(context.Background(), recorder("outer", &lines))
		ctx = transport.WithTrace(ctx, recorder("inner", &lines))
		ctx = transport.WithTrace(ctx, nil) // changes nothing
		code, err := statusIn(t, ctx, rt, "http://a.test/")
		require.NoError(t, err)
		assert.Equal(t, 503, code)
		assert.Equal(t, []string{
			"inner retry #1 Service Unavailable wait=1s ra=true",
			"outer retry #1 Service Unavailable wait=1s ra=true",
			"policy retry #1",
			"inner give-up #2 MaxRetries reached",
			"outer give-up #2 MaxRetries reached",
			"policy give-up MaxRetries reached",
			"inner end attempts=2 status=503 err=false",
			"outer end attempts=2 status=503 err=false",
		}, lines)
	})
}

// A call that ends on an error, and one that needed no retry, end once.
func TestTraceCallEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broken := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("no route to anywhere")
		})
		var lines []string
		ctx := transport.WithTrace(context.Background(), recorder("t", &lines))
		_, err := statusIn(t, ctx, transport.Chain(broken, transport.Retry(transport.RetryPolicy{})), "http://a.test/")
		require.Error(t, err)
		ok := &scripted{resps: []func() *http.Response{answer(200)}}
		_, err = statusIn(t, ctx, transport.Chain(ok, transport.Retry(transport.RetryPolicy{})), "http://a.test/")
		require.NoError(t, err)
		assert.Equal(t, []string{"t end attempts=1 status=0 err=true", "t end attempts=1 status=200 err=false"}, lines)
	})
}

// RateLimit reports what it held an attempt back for, and how long: a
// server's cool-down, then its own limiter. An attempt let through at once
// is not reported.
func TestTracePaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		throttle := answer(429, "Retry-After", "2")
		resps := []func() *http.Response{}
		for range 10 {
			resps = append(resps, throttle)
		}
		s := &scripted{resps: append(resps, answer(200))}
		rt := transport.Chain(s, transport.RateLimit(transport.RateLimitOptions{NoPacing: true, Limiter: rate.NewLimiter(rate.Every(500*time.Millisecond), 1)}))
		var lines []string
		ctx := transport.WithTrace(context.Background(), recorder("t", &lines))
		for range 12 { // ten 429s show the limit is the host's: the 11th call cools down
			_, err := statusIn(t, ctx, rt, "http://a.test/")
			require.NoError(t, err)
		}
		want := []string{}
		for range 9 {
			want = append(want, "t paced limit 500ms")
		}
		assert.Equal(t, append(want, "t paced cool-down 2s", "t paced limit 500ms"), lines)
	})
}

func TestTraceReasonsHaveNames(t *testing.T) {
	for r := transport.GiveUpMaxRetries; r <= transport.GiveUpThrottled; r++ {
		assert.NotContains(t, r.String(), "GiveUpReason(", "reason %d", int(r))
	}
	assert.Equal(t, "GiveUpReason(0)", transport.GiveUpReason(0).String())
	assert.Equal(t, "cool-down", transport.PacedByCoolDown.String())
	assert.Equal(t, "limit", transport.PacedByLimit.String())
	assert.Equal(t, "PaceReason(9)", transport.PaceReason(9).String())
}
