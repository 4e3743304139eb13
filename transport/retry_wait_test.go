package transport_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// scripted is a RoundTripper that answers with one response per attempt
// (the last repeats) and records when each attempt came.
type scripted struct {
	resps []func() *http.Response
	at    []time.Time
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	s.at = append(s.at, time.Now())
	i := min(len(s.at), len(s.resps)) - 1
	resp := s.resps[i]()
	resp.Request = req
	return resp, nil
}

func answer(code int, header ...string) func() *http.Response {
	return func() *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Add(header[i], header[i+1])
		}
		return &http.Response{
			StatusCode: code, Status: http.StatusText(code), Header: h,
			Body: io.NopCloser(strings.NewReader(http.StatusText(code))),
		}
	}
}

// run sends one GET through Retry(p) over s, in the test's synctest bubble,
// and returns the outcome and how much (fake) time it took.
func run(t *testing.T, ctx context.Context, p transport.RetryPolicy, s *scripted) (*http.Response, time.Duration, error) {
	t.Helper()
	rt := transport.Chain(s, transport.Retry(p))
	start := time.Now()
	resp, err := rt.RoundTrip(newRequest(t, ctx, http.MethodGet, "http://api.test/", nil))
	return resp, time.Since(start), err
}

func TestRetryAfterReplacesBackoff(t *testing.T) {
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // synctest's clock starts here
	in := epoch.Add(7 * time.Second)
	for name, tc := range map[string]struct {
		header []string
		want   time.Duration
	}{
		"delay-seconds":       {[]string{"Retry-After", "3"}, 3 * time.Second},
		"IMF-fixdate":         {[]string{"Retry-After", in.Format(http.TimeFormat)}, 7 * time.Second},
		"RFC 850":             {[]string{"Retry-After", in.Format(time.RFC850)}, 7 * time.Second},
		"ANSI C asctime":      {[]string{"Retry-After", in.Format(time.ANSIC)}, 7 * time.Second},
		"server's own Date":   {[]string{"Retry-After", epoch.Add(time.Hour + 5*time.Second).Format(http.TimeFormat), "Date", epoch.Add(time.Hour).Format(http.TimeFormat)}, 5 * time.Second},
		"retry-after-ms wins": {[]string{"Retry-After", "3", "Retry-After-Ms", "1250"}, 1250 * time.Millisecond},
		"x-ms-retry-after-ms": {[]string{"X-Ms-Retry-After-Ms", "400"}, 400 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &scripted{resps: []func() *http.Response{answer(503, tc.header...), answer(200)}}
				// A backoff of up to an hour would show if Retry-After were ignored.
				resp, took, err := run(t, context.Background(), transport.RetryPolicy{BaseDelay: time.Hour, MaxDelay: time.Hour}, s)
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, tc.want, took)
			})
		})
	}
}

func TestRetryAfterUnusableFallsBackToBackoff(t *testing.T) {
	for name, v := range map[string]string{
		"negative":  "-5",
		"garbage":   "soon",
		"fraction":  "1.5",
		"past date": time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &scripted{resps: []func() *http.Response{answer(503, "Retry-After", v), answer(200)}}
				p := transport.RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Second}
				resp, took, err := run(t, context.Background(), p, s)
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Less(t, took, time.Second, "backoff of the first retry is below BaseDelay")
			})
		})
	}
}

func TestRetryGivesUpAtOnce(t *testing.T) {
	t.Run("Retry-After above MaxRetryAfter", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &scripted{resps: []func() *http.Response{answer(429, "Retry-After", "3600"), answer(200)}}
			resp, took, err := run(t, context.Background(), transport.RetryPolicy{MaxRetryAfter: time.Minute}, s)
			require.NoError(t, err)
			assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			assert.Equal(t, "3600", resp.Header.Get("Retry-After"))
			assert.Equal(t, "Too Many Requests", readAll(t, resp), "returned as it came, body unread")
			assert.Zero(t, took)
			assert.Len(t, s.at, 1)
		})
	})
	t.Run("huge Retry-After saturates instead of overflowing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &scripted{resps: []func() *http.Response{answer(503, "Retry-After", "99999999999999999999999"), answer(200)}}
			resp, took, err := run(t, context.Background(), transport.RetryPolicy{}, s)
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Zero(t, took)
			readAll(t, resp)
		})
	})
	t.Run("wait would end past the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s := &scripted{resps: []func() *http.Response{answer(503, "Retry-After", "5"), answer(200)}}
			resp, took, err := run(t, ctx, transport.RetryPolicy{}, s)
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Equal(t, "Service Unavailable", readAll(t, resp))
			assert.Zero(t, took)
			assert.Len(t, s.at, 1)
		})
	})
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(1500*time.Millisecond, cancel)
		s := &scripted{resps: []func() *http.Response{answer(503, "Retry-After", "20")}}
		resp, took, err := run(t, ctx, transport.RetryPolicy{}, s)
		assert.Nil(t, resp)
		require.ErrorIs(t, err, context.Canceled)
		var rerr *transport.RetryError
		require.ErrorAs(t, err, &rerr)
		assert.Equal(t, 1, rerr.Attempts)
		assert.Equal(t, 1500*time.Millisecond, took, "returns as the context ends")
	})
}

func TestRetryBackoffGrowsWithJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{resps: []func() *http.Response{answer(503)}}
		p := transport.RetryPolicy{MaxRetries: 8, BaseDelay: time.Second, MaxDelay: 10 * time.Second}
		resp, _, err := run(t, context.Background(), p, s)
		require.NoError(t, err)
		readAll(t, resp)
		require.Len(t, s.at, 9)
		assert.Positive(t, s.at[8].Sub(s.at[0]), "full jitter is not always zero")
		for k := 1; k < len(s.at); k++ {
			ceil := min(10*time.Second, time.Second<<(k-1))
			wait := s.at[k].Sub(s.at[k-1])
			assert.GreaterOrEqual(t, wait, time.Duration(0))
			assert.Less(t, wait, ceil, "retry %d waited %v, above its ceiling %v", k, wait, ceil)
		}
	})
}

// A call whose context ends during the wait before a retry releases the
// body it had made ready for that retry (a copy from GetBody, a reopened
// file), which no transport will ever close.
func TestRetryCancelledInAWaitClosesTheNextBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{resps: []func() *http.Response{answer(503, "Retry-After", "5")}}
		rt := transport.Chain(s, transport.Retry(transport.RetryPolicy{}))
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://api.test/", strings.NewReader("payload"))
		require.NoError(t, err)
		var copies []*trackedBody
		req.GetBody = func() (io.ReadCloser, error) {
			b := newTrackedBody(strings.NewReader("payload"))
			copies = append(copies, b)
			return b, nil
		}
		time.AfterFunc(time.Second, cancel)
		_, err = rt.RoundTrip(req)
		require.ErrorIs(t, err, context.Canceled)
		require.Len(t, s.at, 1)
		require.Len(t, copies, 1)
		assert.Equal(t, int32(1), copies[0].closes.Load())
	})
}
