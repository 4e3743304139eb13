package httptestutil

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The throttling workloads that rtchain's figures are measured on, for any
// client: each starts its own server for tb and returns what Load measured
// and how many 429s the server sent.

// ScopedThrottleLoad is a server whose limits have a scope: it throttles 1
// resource in 50 (429 + Retry-After: 1, once each) and serves every other
// request in 1 ms. 8 workers make 800 GETs of distinct resources through
// client. A client that holds back the whole host for one resource's 429
// takes many times as long as one that does not.
func ScopedThrottleLoad(tb testing.TB, client *http.Client) (LoadResult, int) {
	tb.Helper()
	origin := ThrottleFirst(func(r *http.Request) string {
		if i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/")); err == nil && i%50 == 0 {
			return r.URL.Path
		}
		return ""
	}, http.Header{"Retry-After": {"1"}}, Delay(time.Millisecond, OK("ok")))
	srv := NewServer(tb, origin)
	res := LoadRequests(client, 8, 800, func(i int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, fmt.Sprintf("%s/r/%d", srv.URL, i), nil)
	})
	return res, origin.Throttled()
}

// RefusingLoad is an LLM-style endpoint that answers each call's first
// attempt 429 + retry-after-ms: 200, whatever the rate, as an API that
// turns calls away per request does. workers × calls keyless POSTs, each
// naming its call in an X-Call header, go through client. The physical
// limit is calls × 200 ms per worker.
func RefusingLoad(tb testing.TB, client *http.Client, workers, calls int) (LoadResult, int) {
	tb.Helper()
	origin := ThrottleFirst(func(r *http.Request) string { return r.Header.Get("X-Call") },
		http.Header{"Retry-After-Ms": {"200"}}, OK(`{"choices":[]}`))
	srv := NewServer(tb, origin)
	res := LoadRequests(client, workers, workers*calls, func(i int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Call", strconv.Itoa(i))
		}
		return req, err
	})
	return res, origin.Throttled()
}
