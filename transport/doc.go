// Package transport is a set of stackable http.RoundTripper middleware that
// make any *http.Client resilient: retries that are safe (idempotent methods,
// Idempotency-Key, requests that never left), waits that follow the server
// (Retry-After) and the caller (context deadlines), request bodies that are
// replayed in bounded memory, and failed responses drained so connections
// are reused.
//
// Entry points:
//
//   - NewClient returns an *http.Client over the default chain;
//     NewClientWith configures it (ClientOptions).
//   - Chain stacks middleware over a base RoundTripper (by default a pooled
//     cleanhttp transport); the first middleware is the outermost. Anything
//     outside Retry runs once per call, anything inside once per attempt.
//   - Retry, configured by RetryPolicy, is the attempt loop. Its rules are
//     exported as small functions: IsIdempotent, HasIdempotencyKey,
//     IsRetryableStatus, IsTransientError, ParseRetryAfter. A Classifier
//     overrides them; OnRetry observes each retry. RetryError is the error
//     of a call that ended on an error; ErrPerTryTimeout marks an attempt cut
//     by RetryPolicy.PerTryTimeout.
//   - Logging and LoggingWith (LogOptions) log calls and retries through
//     log/slog, with secrets redacted.
//   - RetryBudget (on by default in RetryPolicy) bounds retries to a share
//     of calls per host; RetryPolicy.Hosts fails retries over to equivalent
//     instances; OnGiveUp says which limit stopped a retry.
//   - Breaker (BreakerOptions) is a circuit breaker per host, inside Retry;
//     an open circuit fails fast with ErrCircuitOpen (*CircuitOpenError).
//     IsHostFailure is what it counts by default: 5xx, transient errors and
//     timeouts, never a 429 (throttling is not failure).
//   - IdempotencyKeys gives each POST and PATCH one Idempotency-Key for all
//     of its attempts.
//   - RateLimit and RateLimitWith (RateLimitOptions) spend an x/time/rate
//     token per attempt and honour servers' cool-downs, per host.
//   - Headers and HeadersWith (HeaderOptions) set static, dynamic and
//     attempt-number header fields on each attempt; AttemptFromContext tells
//     any middleware inside Retry which attempt it is handling.
//   - Middleware and RoundTripperFunc are the plumbing for writing your own.
//
// Every middleware honours the http.RoundTripper contract: the caller's
// request is never modified, its body is always closed, and a response is
// never returned together with an error. Every middleware forwards
// CloseIdleConnections to the transport below it.
package transport
