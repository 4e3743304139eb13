package idempotency

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ProblemBase is the default start of the type URI of every problem the
// middleware answers with (RFC 9457): each ends with a fragment naming the
// problem, a heading of rtchain's docs/problems.md. Options.ProblemBase
// points them at a service's own documentation instead.
const ProblemBase = "https://github.com/rtchain/rtchain/blob/main/docs/problems.md#"

// The problems, as the fragments of their type URIs.
const (
	ProblemMissingKey        = "missing-key"         // 400: Required and no key
	ProblemInvalidKey        = "invalid-key"         // 400: empty, too long or not printable
	ProblemKeyInUse          = "key-in-use"          // 409: the first request is still running
	ProblemKeyReused         = "key-reused"          // 422: the key came with another request
	ProblemBodyTooLarge      = "body-too-large"      // 413: request body over MaxRequestBytes
	ProblemUnreadableBody    = "unreadable-body"     // 400: the request body could not be read
	ProblemResponseNotStored = "response-not-stored" // 410: ran once, response too large to replay
	ProblemStoreUnavailable  = "store-unavailable"   // 503: the store failed
	// ProblemResponseTooLarge is the 500 answered when a TxStore's run
	// answers over MaxResponseBytes: nothing was committed.
	ProblemResponseTooLarge = "response-too-large"
)

var problemTitles = map[string]string{
	ProblemMissingKey:        "Idempotency-Key required",
	ProblemInvalidKey:        "Idempotency-Key malformed",
	ProblemKeyInUse:          "A request with this Idempotency-Key is in progress",
	ProblemKeyReused:         "Idempotency-Key reused with a different request",
	ProblemBodyTooLarge:      "Request body too large to be made idempotent",
	ProblemResponseNotStored: "The request was processed; its response was too large to keep",
	ProblemStoreUnavailable:  "Idempotency store unavailable",
	ProblemResponseTooLarge:  "The response was too large to store; nothing was committed",
}

// problem writes an RFC 9457 problem+json answer whose type is
// Options.ProblemBase plus kind. retryAfter, when positive, adds a
// Retry-After header (whole seconds, at least 1).
func (h *handler) problem(w http.ResponseWriter, status int, kind, detail string, retryAfter time.Duration) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/problem+json")
	hdr.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		hdr.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail,omitempty"`
	}{h.o.ProblemBase + kind, problemTitles[kind], status, detail})
}
