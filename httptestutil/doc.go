// Package httptestutil is a loopback HTTP server that misbehaves on purpose,
// exactly as scripted, and records what it received: for tests of HTTP
// clients, rtchain's and yours.
//
// A server plays a script of steps, one per request; the last step repeats.
// A step is an http.Handler, so any handler can be one. The steps:
//
//   - answers: Respond, OK, Status, RetryAfter, RetryAfterSeconds,
//     RetryAfterDate, TooManyRequests, Unavailable;
//   - timing: Delay (before the headers), Hang (never answers), Drip (a
//     slow body), Endless (an error body that never ends);
//   - broken connections: Reset (TCP RST), CloseConn (EOF, no response),
//     StallBody (headers, then silence), CutBody (shorter than announced);
//   - uploads: ReadThen (reads n bytes of the request body, then answers).
//
// NewServer and NewTLSServer start one for a test and close it when the test
// ends; Start and StartTLS do the same outside tests. Server.Handle gives a
// path a script of its own. Server.Requests returns every request's method,
// URL, headers, body, arrival time and connection; Server.Conns counts the
// connections clients opened, to assert that they were reused. Idempotent
// wraps a handler to run once per Idempotency-Key and count its runs.
// RateLimited is an origin behind a token bucket that answers 429 with
// Retry-After beyond it, and counts what it served and refused; with
// AnnounceQuota it also sends the IETF draft's RateLimit fields.
// ThrottleFirst throttles the first request of each key: resources throttled
// once each, or each call's first attempt, whatever the rate. Load runs
// a workload (so many GETs, so many at a time) through a client and says
// how many succeeded and how long it took; LoadRequests does the same with
// a request of its own for each call. ScopedThrottleLoad and RefusingLoad
// are the throttling workloads of rtchain's figures, ready for any client. ReusableAddr gives a server that
// a test stops and restarts an address no outgoing connection will take in
// between.
//
// A complete test of a client against a flaky server:
//
//	func TestClientRetries(t *testing.T) {
//		srv := httptestutil.NewServer(t,
//			httptestutil.Unavailable(0), // 503, Retry-After: 0
//			httptestutil.Reset(),        // connection reset, no response
//			httptestutil.OK("hello"))
//		client := &http.Client{Transport: transport.Chain(nil,
//			transport.Retry(transport.RetryPolicy{}))}
//		t.Cleanup(client.CloseIdleConnections)
//
//		resp, err := client.Get(srv.URL)
//		require.NoError(t, err)
//		defer resp.Body.Close()
//		require.Equal(t, http.StatusOK, resp.StatusCode)
//		require.Equal(t, 3, srv.Count())
//	}
//
// Close cuts client connections before it shuts the server down, and the
// context of every step ends with the server, so no step outlives a test.
package httptestutil
