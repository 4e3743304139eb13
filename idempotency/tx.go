package idempotency

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// TxStore is a Store that can hold a request's effect and its stored
// response in one transaction (idempotency/sqlstore is one). When
// Options.Store is a TxStore, Middleware calls BeginTx instead of Begin,
// runs the handler with the transaction in its context, and answers only
// once the transaction has committed:
//
//   - the handler's answer below 500 is stored by Txn.Commit, in the same
//     transaction as what the handler wrote through it, and then sent; a
//     commit that fails (a connection cut, a database restarted, the lease
//     lost) is answered 503 with Retry-After (409 for a lost lease), never
//     with the answer of a transaction that may not have happened;
//   - a 5xx, a panic, or an answer over MaxResponseBytes (answered 500:
//     it could be neither stored nor sent without committing first) rolls
//     both back, and the key is free again;
//   - the response is held in memory until the commit, so Flush sends
//     nothing early: a transactional route does not stream.
//
// Memory and Redis stores are not TxStores and behave as documented on
// Middleware.
type TxStore interface {
	Store
	// BeginTx is Begin for a request whose handler runs in a transaction.
	// When the key is free, it writes the key's record (owned by r.Owner,
	// in progress) in a new transaction and returns it as txn; nothing of
	// it is visible to others until txn commits, and another Begin or
	// BeginTx on key meanwhile answers at once with a record in progress,
	// never waiting for the transaction. Otherwise txn is nil and existing
	// is the live record, as for Begin. lease bounds how long the
	// transaction may sit idle before the store gives the key up.
	BeginTx(ctx context.Context, key string, r Record, lease time.Duration) (existing Record, txn Txn, err error)
}

// Txn is the transaction of one request that holds a key, from
// TxStore.BeginTx. Exactly one of Commit or Rollback ends it.
type Txn interface {
	// Context returns ctx carrying the transaction, for the handler to
	// find (sqlstore.Tx reads it).
	Context(ctx context.Context) context.Context
	// Commit stores resp as the key's outcome for ttl in the transaction,
	// and commits: the handler's writes and the record, together or not at
	// all. A nil error means both are durable. ErrLeaseLost means the
	// store gave the key up (the lease ran out) and nothing was committed.
	// Any other error may leave the outcome unknown; either way the record
	// and the effect agree, so the client's retry gets the stored answer
	// or runs the handler on a clean slate.
	Commit(ctx context.Context, resp *Response, ttl time.Duration) error
	// Rollback undoes the transaction: the handler's writes and the
	// record. The key is free again.
	Rollback(ctx context.Context) error
	// Confirm reports whether the transaction still holds the key, and
	// renews its lease: what Confirm asks of it.
	Confirm(ctx context.Context) error
}

// runTx runs the handler for the request that holds key inside txn,
// commits or rolls back by what it answered, sends the answer only after,
// and returns the outcome.
func (h *handler) runTx(w http.ResponseWriter, r *http.Request, c *claim) Outcome {
	ctx := context.WithoutCancel(r.Context())
	before := w.Header().Clone()
	hw := &held{w: w, max: h.o.MaxResponseBytes}
	defer func() {
		if p := recover(); p != nil {
			h.rollback(ctx, c.txn)
			panic(p)
		}
	}()
	h.next.ServeHTTP(hw, r.WithContext(c.txn.Context(r.Context())))
	resp := hw.response()
	outcome := OutcomeFirstRun
	var err error
	switch {
	case hw.over:
		h.rollback(ctx, c.txn)
		resetHeader(w.Header(), before)
		h.problem(w, http.StatusInternalServerError, ProblemResponseTooLarge,
			"at most "+strconv.FormatInt(h.o.MaxResponseBytes, 10)+" bytes", 0)
		return OutcomeResponseTooLarge
	case frees(resp.Status):
		h.rollback(ctx, c.txn)
		outcome = OutcomeReleased
	default:
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		err = c.txn.Commit(cctx, h.storable(resp), h.o.TTL)
		cancel()
	}
	switch {
	case errors.Is(err, ErrLeaseLost):
		h.o.Logger.WarnContext(ctx, "idempotency: lease lost before the commit; rolled back", "error", err)
		resetHeader(w.Header(), before)
		h.problem(w, http.StatusConflict, ProblemKeyInUse, "", h.o.RetryAfter)
		return OutcomeLeaseLost
	case err != nil:
		h.o.Logger.ErrorContext(ctx, "idempotency: commit failed", "error", err)
		resetHeader(w.Header(), before)
		h.problem(w, http.StatusServiceUnavailable, ProblemStoreUnavailable, "", h.o.RetryAfter)
		return OutcomeStoreUnavailable
	}
	resetHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	return outcome
}

func (h *handler) rollback(ctx context.Context, txn Txn) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := txn.Rollback(ctx); err != nil {
		h.o.Logger.ErrorContext(ctx, "idempotency: rollback failed", "error", err)
	}
}

// resetHeader makes h hold exactly the fields of want.
func resetHeader(h, want http.Header) {
	for k := range h {
		if _, ok := want[k]; !ok {
			delete(h, k)
		}
	}
	for k, vs := range want {
		h[k] = vs
	}
}

// held is the ResponseWriter of a transactional run: it keeps the status,
// the header fields as they were when the status was written, and up to max
// bytes of body, and sends nothing but informational answers until the
// middleware has committed.
type held struct {
	w      http.ResponseWriter
	max    int64
	status int
	header http.Header
	body   []byte
	over   bool
}

var (
	_ http.ResponseWriter = (*held)(nil)
	_ http.Flusher        = (*held)(nil)
)

func (c *held) Header() http.Header { return c.w.Header() }

func (c *held) WriteHeader(code int) {
	if c.status != 0 {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		c.w.WriteHeader(code) // informational: no effect is promised by it
		return
	}
	c.status = code
	c.header = c.w.Header().Clone()
}

func (c *held) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.over || int64(len(c.body)+len(p)) > c.max {
		c.over, c.body = true, nil
		return len(p), nil
	}
	c.body = append(c.body, p...)
	return len(p), nil
}

// Flush does nothing: the answer waits for the commit.
func (c *held) Flush() {}

// Unwrap lets http.ResponseController reach the ResponseWriter's deadlines.
func (c *held) Unwrap() http.ResponseWriter { return c.w }

func (c *held) response() *Response {
	if c.status == 0 {
		c.status, c.header = http.StatusOK, c.w.Header().Clone()
	}
	return &Response{Status: c.status, Header: c.header, Body: c.body}
}
