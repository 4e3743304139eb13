// Package idempotency is the server half of safe retries: http.Handler
// middleware that runs each request carrying an Idempotency-Key once, and
// answers its duplicates (a client's retries, a retry that failed over to
// another instance) with the stored response, as the IETF httpapi
// Idempotency-Key draft and Stripe's API describe.
//
// Entry points:
//
//   - Middleware(Options) wraps any http.Handler (net/http, chi, anything of
//     that shape). Options' zero value is a working default for one
//     process; ValidKey is its rule for keys.
//   - Store is what keeps the records, shared by every instance that must
//     agree: NewMemoryStore (MemoryStore) serves one process; the nested
//     module idempotency/redisstore serves a fleet through Redis.
//   - Record and Response are what a Store keeps; ErrLeaseLost and
//     ErrStoreFull are what it may answer. Extender is a Store that can
//     extend a lease (both stores here are).
//   - TxStore and Txn are a Store that commits the handler's effect and
//     its stored response in one transaction (idempotency/sqlstore): the
//     middleware answers only after the commit.
//   - Confirm is a handler's fence before its effect: it confirms that the
//     request still holds its key and extends the lease.
//   - The Problem constants name the RFC 9457 problem+json answers.
//   - Outcome names how a covered request ended (first run, replay, 409,
//     422, store failure, key released, ...), which Options.OnOutcome
//     reports for metrics (rtotel's Instrumentation.IdempotencyOutcome).
//
// A key belongs to its caller: by default keys are scoped by the
// credentials a request carries (CallerScope), so that a stored answer is
// replayed only to the caller who caused it, and Set-Cookie is never
// stored. Options.Scope scopes them otherwise (a tenant, the account your
// authentication found; OneScope for one namespace). ParseKey reads a key
// bare or as the IETF draft's quoted string.
//
// A request that takes a key holds it with a lease (Options.Lease). If its
// instance dies or stalls past the lease, a duplicate runs the handler again
// and the stale run can no longer store or release anything: a Store
// fences each record by its owner's token. The effect itself is fenced by
// the handler: it calls Confirm just before it, and a stale run learns there
// that it must not commit. A handler that runs longer than its lease calls
// Confirm as its heartbeat. A handler's 5xx or panic frees the key for the
// client's retry. A failing store means 503, never a run without protection
// (unless Options.FailOpen).
//
// One window no middleware can close with a Store alone: an instance that
// dies after the handler's effect and before the response is stored (one
// store round trip) leaves the key leased with no outcome, and once the
// lease expires a retry runs the handler again. A TxStore closes it for
// effects in its database: the effect and the record commit together. For
// an effect elsewhere, give it the key as well (a payment provider's
// idempotency key) where a second run must not charge twice.
//
// rtchain's client half (transport.Retry with
// transport.ClientOptions{IdempotencyKeys: true}) sends the keys, retries the
// 409 of a duplicate in progress, and fails over between instances.
package idempotency
