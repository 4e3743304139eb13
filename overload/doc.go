// Package overload is the server shedding what it cannot serve in time:
// http.Handler middleware that admits requests up to a concurrency limit
// learned from their latency, lets a bounded excess wait for a slot, and
// refuses the rest at once with a wait the client can use, retries first.
//
// Entry points:
//
//   - Middleware(Options) wraps any http.Handler. Options' zero value needs
//     no tuning. Its hooks (OnShed, OnAdmit, OnDone with ShedEvent,
//     AdmitEvent, DoneEvent) are for metrics; unset, they cost nothing.
//   - Priority ranks requests: Sheddable (retries, by DefaultPriority and
//     IsRetry), Normal, Critical (health checks: past the limit).
//   - Limiter (NewLimiter, LimiterOptions) is the limit and its queue:
//     Acquire a Slot, then Release or Cancel it. Middleware uses one;
//     rtgrpc's OverloadUnaryServerInterceptor uses the same, and one
//     Limiter may serve both.
//   - ErrOverloaded and ErrDeadline are why a request was refused; the
//     Problem constants name the RFC 9457 problem+json answers.
//
// The limit follows latency (internal/adaptive): it grows while the
// latency stays near its floor, the handler's own time with no queue in
// front of it, and is cut when a queue shows in it (past 1.5 times the
// floor). A server that can do 4 things at a time settles near 4 to 6 in
// flight: it stays busy, and what it admits is answered in little more
// than its own time. The excess is refused at once, before anything of the
// handler's runs. Unloaded, the middleware costs about 0.2 µs a request and
// no allocation (BenchmarkMiddleware).
//
// Known limit: work of two kinds, one far slower (one request in ten a
// long poll of seconds), swings each window's mean with how many slow ones
// it caught, which the limit takes for a queue: give such routes a Limiter
// of their own whose MinLimit is the concurrency they can take
// (LimiterOptions), or Critical priority. Latency that merely varies (an
// exponential spread) is told from a queue: 100 callers of a handler
// around 200 ms are all let in (TestAHandlerOfNoisyLatencyIsNotShed).
//
// A refusal is 503 with Retry-After (whole seconds, at least 1) and
// retry-after-ms: about the current latency, at least 10 ms, times a
// random factor in [1, 2), so that the clients refused together do not
// come back together. rtchain's client (transport.Retry) retries a 503
// for any method, waiting what retry-after-ms asks, and spends no retry
// budget on it.
//
// Order with idempotency.Middleware: shed first. overload.Middleware goes
// outermost, so that a refused request takes no Idempotency-Key lease and
// reads no body; its retry finds the key free:
//
//	h := overload.Middleware(overload.Options{})(
//		idempotency.Middleware(idempotency.Options{})(mux))
package overload
