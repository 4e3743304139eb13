// Package rtotel reports what rtchain's transport does to OpenTelemetry:
// a span event for each retry and each limit that stopped one, the
// http.request.resend_count attribute on each resent attempt's client span,
// and metrics of retries, give-ups, waits, pacing, circuit breakers and
// attempts the client rejected itself; and, for the server half, metrics of
// the requests the idempotency middleware covered, by outcome, and of the
// requests the overload middleware shed.
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
//     transport.BreakerOptions.OnStateChange.
//   - Instrumentation.IdempotencyOutcome is an idempotency.Options.OnOutcome
//     (every covered request, replays included); Instrumentation.Replayed,
//     an idempotency.Options.OnReplay, counts replays alone.
//   - Instrumentation.Shed is an overload.Options.OnShed.
//   - Instrumentation.ObserveLimiter and ObserveStore report an
//     overload.Limiter and an idempotency.MemoryStore in gauges;
//     Instrumentation.LimitStats is what the gauges of the client's
//     concurrency limits read (transport.LimitOptions.Stats).
//   - Instrumentation.RPC records an RPC client's retries and give-ups and
//     its server's outcomes, replays and shed calls (rtgrpc's hooks) with
//     rpc.system and rpc.method, and its attempts by type
//     (grpc.client.attempt.started), from plain values: rtotel does not
//     depend on grpc.
//   - Client returns transport.NewClientWith's client with all of it wired:
//     Calls outside Retry, otelhttp and Attempts inside (a client span per
//     attempt), the breaker hook, LimitStats when the Limit layer is on.
//
// The two placements of otelhttp: inside Retry (as Client does), each
// attempt is a client span, the resent ones marked, and the retry events go
// to the span of the caller; outside Retry, one client span per call
// carries the retry events itself. See the examples.
//
// The client's metrics, all with the attribute server.address (the URL's
// host):
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
//	rtchain.client.hedges            counter   {attempt}    hedges sent and hedged calls' winners; rtchain.hedge.won, rtchain.hedge.by_hedge
//	rtchain.client.rejected          counter   {attempt}    calls ended by an attempt the client rejected itself, unsent
//	                                                        (transport.RejectedError); rtchain.rejected.reason: cool_down,
//	                                                        pace, adaptive_throttle, limit, other
//	rtchain.client.limit             gauge     {attempt}    a host's concurrency limit (the Limit layer)
//	rtchain.client.limit.in_flight   gauge     {attempt}    attempts in flight under it
//	rtchain.client.limit.waiting     gauge     {attempt}    attempts waiting for a slot of it
//
// gRPC's attempts (RPC.AttemptStarted), with rpc.system, grpc.method and
// grpc.attempt_type (original, retry, transparent_retry), no server.address:
//
//	grpc.client.attempt.started      counter   {attempt}    attempts of calls through rtgrpc's interceptors
//
// The server's metrics, without server.address (with rpc.system and
// rpc.method when recorded through RPC):
//
//	rtchain.server.idempotency.requests counter {request} covered requests by how they ended;
//	                                                      rtchain.idempotency.outcome: the idempotency.Outcome values
//	                                                      (first_run, replayed, in_progress, key_reused, invalid_key,
//	                                                      missing_key, body_too_large, unreadable_body, not_stored,
//	                                                      store_unavailable, released, lease_lost, response_too_large,
//	                                                      unprotected), other for none of them
//	rtchain.server.idempotency.replays  counter {response} stored responses replayed (Replayed)
//	rtchain.server.overload.shed        counter {request}  requests refused by overload.Middleware; rtchain.overload.reason
//	                                                      (overloaded, deadline), rtchain.overload.priority (sheddable,
//	                                                      normal, critical)
//	rtchain.server.overload.limit       gauge   {request}  an overload.Limiter's limit (ObserveLimiter); rtchain.limiter
//	rtchain.server.overload.in_flight   gauge   {request}  the requests it admitted, in flight; rtchain.limiter
//	rtchain.server.overload.queued      gauge   {request}  the requests queued for a slot; rtchain.limiter
//	rtchain.server.idempotency.records  gauge   {record}   records a store holds (ObserveStore); rtchain.store
//	rtchain.server.idempotency.bytes    gauge   By         their size; rtchain.store
//
// The gauges are read when the metrics are collected, never on a call's
// path.
//
// Every attribute takes a bounded set of values: no path, key or user.
package rtotel
