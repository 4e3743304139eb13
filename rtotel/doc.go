// Package rtotel reports what rtchain's transport does to OpenTelemetry:
// a span event for each retry and each limit that stopped one, the
// http.request.resend_count attribute on each resent attempt's client span,
// and metrics of retries, give-ups, waits, pacing, circuit breakers and the
// idempotent replays a server served.
//
// It is a module of its own, so that rtchain's main module never depends
// on OpenTelemetry. It creates no spans of its own: otelhttp.NewTransport
// does, and rtotel annotates them.
//
// Entry points:
//
//   - New returns an Instrumentation over a MeterProvider (Options; the
//     global one by default).
//   - Instrumentation.Calls is a transport.Middleware to place outside
//     Retry: it observes each call through transport.Trace, adds events to
//     the call's span and records the metrics.
//   - Instrumentation.Attempts is a transport.Middleware to place inside
//     Retry, below otelhttp.NewTransport: it marks each resent attempt's
//     span with http.request.resend_count.
//   - Instrumentation.BreakerStateChange is a
//     transport.BreakerOptions.OnStateChange; Instrumentation.Replayed is an
//     idempotency.Options.OnReplay.
//   - Instrumentation.RPC records an RPC client's retries and give-ups and
//     its server's replays (rtgrpc's hooks) with rpc.system and rpc.method,
//     from plain values: rtotel does not depend on grpc.
//   - Client returns transport.NewClientWith's client with all of it wired:
//     Calls outside Retry, otelhttp and Attempts inside (a client span per
//     attempt), the breaker hook.
//
// The two placements of otelhttp: inside Retry (as Client does), each
// attempt is a client span, the resent ones marked, and the retry events go
// to the span of the caller; outside Retry, one client span per call
// carries the retry events itself. See the examples.
//
// The metrics, all with the attribute server.address (the URL's host):
//
//	rtchain.client.call.attempts     histogram {attempt}    attempts per call through Retry
//	rtchain.client.retries           counter   {retry}      retries; rtchain.retry.reason, rtchain.retry.after
//	rtchain.client.retry.wait        histogram s            the wait before each retry
//	rtchain.client.give_ups          counter   {call}       limits that stopped a retry; rtchain.give_up.reason
//	rtchain.client.paced             counter   {attempt}    attempts held back on the client's side; rtchain.pace.reason
//	rtchain.client.pace.duration     histogram s            how long they were held back; rtchain.pace.reason
//	rtchain.client.breaker.transitions counter {transition} circuit state changes; rtchain.breaker.state, rtchain.breaker.previous_state
//	rtchain.client.breaker.state     gauge     {state}      a host's circuit: 0 closed, 1 open, 2 half-open
//	rtchain.client.resumes           counter   {resume}     bodies that broke off, asked for again; rtchain.resume.outcome
//	rtchain.server.idempotency.replays counter {response}   stored responses replayed (no server.address)
package rtotel
