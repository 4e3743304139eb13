package idempotency

import "net/http"

// Outcome is how Middleware ended a request it covered: one of the
// Outcome constants, a small fixed set fit to be a metric's label. It is
// reported once per covered request with a key (and per covered request
// without one, when Options.Required), through Options.OnOutcome; rtgrpc's
// server interceptor reports the same values for calls.
type Outcome string

// The outcomes, by what the client was answered.
const (
	// OutcomeFirstRun: the request took its key, the handler ran, and its
	// answer was stored for the duplicates.
	OutcomeFirstRun Outcome = "first_run"
	// OutcomeReplayed: a duplicate was answered the stored response
	// (Idempotent-Replayed: true); the handler did not run.
	OutcomeReplayed Outcome = "replayed"
	// OutcomeInProgress: a duplicate arrived while the key's first request
	// was still running: 409 with Retry-After.
	OutcomeInProgress Outcome = "in_progress"
	// OutcomeKeyReused: the key was used before with another request
	// (method, path, query, body or scope): 422.
	OutcomeKeyReused Outcome = "key_reused"
	// OutcomeInvalidKey: the key was malformed, or sent twice: 400.
	OutcomeInvalidKey Outcome = "invalid_key"
	// OutcomeMissingKey: no key, and Options.Required: 400.
	OutcomeMissingKey Outcome = "missing_key"
	// OutcomeBodyTooLarge: the request body passed MaxRequestBytes (or an
	// outer http.MaxBytesHandler's limit): 413.
	OutcomeBodyTooLarge Outcome = "body_too_large"
	// OutcomeUnreadableBody: the request body could not be read (rtgrpc:
	// the request could not be marshalled for its fingerprint): 400.
	OutcomeUnreadableBody Outcome = "unreadable_body"
	// OutcomeNotStored: a duplicate of a request whose answer was too
	// large to store: 410 (rtgrpc: FailedPrecondition).
	OutcomeNotStored Outcome = "not_stored"
	// OutcomeStoreUnavailable: the store failed. Before the handler ran
	// (Begin), the answer is 503 with Retry-After; at a TxStore's commit,
	// 503 too, and nothing was committed; at Complete, after the handler's
	// answer went out, that answer is not stored, and the key stays in
	// progress until its lease ends. rtgrpc also reports it for a stored
	// answer it cannot read.
	OutcomeStoreUnavailable Outcome = "store_unavailable"
	// OutcomeReleased: the handler answered 5xx or 429, or panicked: the
	// key was freed (a TxStore's transaction rolled back), so the client's
	// retry runs the handler again.
	OutcomeReleased Outcome = "released"
	// OutcomeLeaseLost: the handler ran, but when its answer was to be
	// stored (Complete, or a TxStore's commit) the key's lease had run
	// out and another request may hold the key. Without a TxStore the
	// answer went out unstored; with one, nothing was committed and the
	// answer is 409.
	OutcomeLeaseLost Outcome = "lease_lost"
	// OutcomeResponseTooLarge: the handler's answer passed
	// MaxResponseBytes. Without a TxStore it went out whole and its
	// duplicates get OutcomeNotStored; with one, the transaction rolled
	// back and the answer is 500.
	OutcomeResponseTooLarge Outcome = "response_too_large"
	// OutcomeUnprotected: the store failed and Options.FailOpen ran the
	// handler without the key.
	OutcomeUnprotected Outcome = "unprotected"
)

// Outcomes returns every Outcome, in the order of their declaration: to
// prepare a metric's series ahead of the first request, say.
func Outcomes() []Outcome {
	return []Outcome{
		OutcomeFirstRun, OutcomeReplayed, OutcomeInProgress, OutcomeKeyReused,
		OutcomeInvalidKey, OutcomeMissingKey, OutcomeBodyTooLarge, OutcomeUnreadableBody,
		OutcomeNotStored, OutcomeStoreUnavailable, OutcomeReleased, OutcomeLeaseLost,
		OutcomeResponseTooLarge, OutcomeUnprotected,
	}
}

// report tells Options.OnOutcome how the request ended.
func (h *handler) report(r *http.Request, o Outcome) {
	if h.o.OnOutcome != nil {
		h.o.OnOutcome(r, o)
	}
}
