package idempotency

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Store keeps one record per key, shared by every instance of a service
// that must run each keyed request once. Implementations must be safe for
// concurrent use, and each method must be atomic: two instances calling
// Begin on the same key at once must not both acquire it.
//
// A key's life: Begin acquires it for an owner (a random token of the
// request that runs the handler) with a lease; then exactly one of Complete
// (the response is stored for ttl) or Release (the key is free again) ends
// it. A lease that expires frees the key for another request; after that,
// the stale owner's Complete and Release must fail with ErrLeaseLost and
// change nothing (fencing by owner token).
type Store interface {
	// Begin acquires key for owner for lease, if no live record holds it,
	// and reports acquired. Otherwise it returns the live record: one in
	// progress, or one completed. A Begin by the owner that holds key in
	// progress acquires it again (a call sent twice, after a lost reply).
	Begin(ctx context.Context, key string, r Record, lease time.Duration) (existing Record, acquired bool, err error)
	// Complete stores resp as key's outcome for ttl, if owner still holds
	// key's lease; otherwise it returns ErrLeaseLost. A Complete by the
	// owner whose response is stored already returns nil and changes
	// nothing (a call sent twice, after a lost reply).
	Complete(ctx context.Context, key, owner string, resp *Response, ttl time.Duration) error
	// Release deletes key's record, if owner still holds its lease;
	// otherwise it returns ErrLeaseLost.
	Release(ctx context.Context, key, owner string) error
}

// Record is what a Store keeps for one key.
type Record struct {
	// Owner is the token of the request that acquired the key.
	Owner string
	// Fingerprint identifies the request (method, path, query, body, scope)
	// so that a key reused with another request is refused.
	Fingerprint string
	// Response is the stored outcome; nil while the request is in progress.
	Response *Response
}

// Response is a stored response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// NotStored reports that the handler ran and answered, but its body was
	// larger than Options.MaxResponseBytes: a duplicate gets an error
	// saying so, never a second run.
	NotStored bool
}

// Errors a Store returns.
var (
	// ErrLeaseLost is returned by Complete and Release when the owner no
	// longer holds the key: its lease expired and another request may have
	// taken it.
	ErrLeaseLost = errors.New("idempotency: lease lost")
	// ErrStoreFull is returned by Begin when a bounded store holds only
	// live records and cannot take another without forgetting one.
	ErrStoreFull = errors.New("idempotency: store full")
)

// size is roughly how many bytes a response takes in memory.
func (r *Response) size() int64 {
	if r == nil {
		return 0
	}
	n := int64(len(r.Body)) + 64
	for k, vs := range r.Header {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}
