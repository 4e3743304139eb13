// Package transport is a set of stackable http.RoundTripper middleware that
// make any *http.Client resilient: retries that are safe (idempotent methods,
// Idempotency-Key, requests that never left or that the server refused),
// waits that follow the server
// (Retry-After) and the caller (context deadlines), request bodies that are
// replayed in bounded memory, and failed responses drained so connections
// are reused.
//
// Entry points:
//
//   - NewClient returns an *http.Client over the default chain;
//     NewClientWith configures it (ClientOptions).
//   - Timeouts(TimeoutOptions) is the layer of NewClient's two timeouts,
//     for a chain stacked with Chain: a call until its response begins
//     (ErrResponseTimeout) and a body that stops moving (ErrBodyStalled).
//     docs/timeouts.md tells every timeout apart.
//   - Chain stacks middleware over a base RoundTripper (by default
//     DefaultPooledTransport); the first middleware is the outermost.
//     Anything outside Retry runs once per call, anything inside once per
//     attempt.
//   - Each middleware has one constructor, which takes its options struct
//     (the zero value means the documented defaults): Retry(RetryPolicy),
//     Breaker(BreakerOptions), RateLimit(RateLimitOptions),
//     Logging(LogOptions), Headers(HeaderOptions), Hedge(HedgeOptions),
//     Timeouts(TimeoutOptions);
//     IdempotencyKeys() has none.
//   - Hedge sends a second attempt after a delay (fixed, or the host's
//     percentile) and returns the first good answer: off unless its Delay
//     is set, only for calls that may be sent twice, within a budget.
//   - Retry is the attempt loop. Its rules are small exported functions:
//     IsIdempotent, HasIdempotencyKey, IsRetryableStatus, IsRefusal (429,
//     503 and StatusOverloaded, retried whatever the method),
//     ServerSaysRetry (x-should-retry), IsTransientError, ParseRetryAfter.
//     A Classifier (or Check) overrides them; a Backoff
//     replaces the full jitter. RetryError is the error of a call that ended
//     on an error, and Attempts(resp) the count of one that ended on a
//     response; ErrPerTryTimeout marks an attempt cut by
//     RetryPolicy.PerTryTimeout, whose clock Chain runs just above the base.
//     RetryBudget (on by default) bounds retries to a share of calls per
//     host; RetryPolicy.Hosts fails retries over to equivalent instances.
//     A GET whose body breaks off is resumed with Range and If-Range when
//     the server allows it (RetryPolicy.NoResume). A text/event-stream
//     that reports an error before its first content is retried whole
//     (EventStreamOptions, StreamError).
//   - One call can be set apart through its context: WithMaxRetries,
//     WithPerTryTimeout, WithClassifier, WithRepeatable, WithoutHedge.
//   - Trace, attached with WithTrace, observes a call: each retry
//     (RetryEvent), each limit that stopped one (GiveUpEvent, GiveUpReason),
//     each attempt held back by RateLimit (PacedEvent), the end of the
//     call (CallEndEvent), each resume of a body (ResumeEvent) and each
//     hedge (HedgeEvent). Logging is built on it; ClientOptions.Trace
//     observes every call of a client at no cost per call, and
//     RetryPolicy.OnRetry and OnGiveUp are the policy's own.
//   - Breaker is a circuit breaker per host, inside Retry; an open circuit
//     fails fast with ErrCircuitOpen (*CircuitOpenError). IsHostFailure is
//     what it counts by default: 5xx, transient errors and timeouts, never a
//     429 (throttling is not failure), and a 503 or 529 only as a refusal,
//     which opens a circuit only when the host accepted nothing for a
//     second. Its changes of state go to BreakerOptions.OnStateChange;
//     LogBreakerChanges logs them.
//   - RateLimit spends an x/time/rate token per attempt and, once a host's
//     throttles are known to be the host's (a throttle has a scope: see
//     RateLimit), honours its cool-downs and paces it (a rate cut on a
//     throttle, on trial, and grown back along a cubic), but never holds
//     back whole a host that still accepts a share of its calls: a host that
//     refuses most of what it is sent is sent about three times what it
//     accepts (adaptive throttling), and what it turns away fails at once
//     with ErrRejectedLocally (*RejectedError), which Retry takes for a
//     refusal; a host that
//     announced its quota is paced to spread it (ParseQuota, Quota: the
//     IETF draft's RateLimit fields, GitHub's X-RateLimit-*; OpenAI's and
//     Anthropic's fields are read, with TokenQuota and QuotaSource, but pace
//     nothing).
//   - Limit (off by default: LimitOptions.Enabled) bounds the attempts in
//     flight to each host by a limit learned from their latency, for a
//     server that does not shed its own load; LimitStats reads the limits
//     for a gauge.
//   - Logging logs calls and retries through log/slog, with secrets
//     redacted (Redacted, RedactURL); RedactError redacts the URL that the
//     error of a call quotes, for logging it yourself.
//   - Headers sets static, dynamic and attempt-number header fields on each
//     attempt; AttemptFromContext tells any middleware inside Retry which
//     attempt it is handling.
//   - IdempotencyKeys gives each POST and PATCH one Idempotency-Key for all
//     of its attempts.
//   - Middleware and RoundTripperFunc are the plumbing for writing your own.
//
// Per-host state (budgets, circuits, cool-downs and limiters) is kept for
// up to DefaultMaxHosts hosts, least recently used first out, in one table
// for the layers of a NewClient chain and one per middleware otherwise;
// each middleware's options can change the bound.
//
// Every middleware is safe for concurrent use and honours the
// http.RoundTripper contract: the caller's request is never modified, its
// body is always closed, and a response is never returned together with an
// error. Every middleware forwards CloseIdleConnections to the transport
// below it.
package transport
