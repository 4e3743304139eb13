package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Extender is a Store that can confirm a lease and extend it: what Confirm
// needs. MemoryStore and redisstore.Store implement it.
type Extender interface {
	// Extend sets key's lease to end lease from now, if owner still holds
	// key in progress; otherwise it returns ErrLeaseLost and changes
	// nothing. A completed record is never extended.
	Extend(ctx context.Context, key, owner string, lease time.Duration) error
}

// ErrCannotConfirm is returned by Confirm when the Store does not implement
// Extender. It wraps errors.ErrUnsupported.
var ErrCannotConfirm = fmt.Errorf("idempotency: the store cannot confirm a lease: %w", errors.ErrUnsupported)

// claim is what a request that holds a key carries in its context.
type claim struct {
	store      Store
	lease      time.Duration
	logger     *slog.Logger
	key, owner string
	txn        Txn // the transaction of a TxStore's run; nil for others
}

// Hold returns ctx carrying the claim of a request that holds key for owner
// in s (taken by Begin, or by BeginTx when txn is its transaction): what
// Confirm checks, and extends by lease. Middleware does it for HTTP; Hold is
// for the middleware of other protocols (rtgrpc's server interceptor), so
// that their handlers fence their effects the same way.
func Hold(ctx context.Context, s Store, key, owner string, lease time.Duration, txn Txn) context.Context {
	return context.WithValue(ctx, claimKey{}, &claim{store: s, lease: lease, logger: slog.Default(), key: key, owner: owner, txn: txn})
}

type claimKey struct{}

// Confirm is the fence a handler puts just before its effect (a charge, a
// commit, a message sent): it confirms with the store that the request
// still holds its key, and extends the lease to Options.Lease from now. A
// nil error means no other request can take the key for a whole lease:
// commit within it. Any error means do not commit: ErrLeaseLost says the
// lease expired (the instance stalled, or lost the store) and a duplicate
// may be running the effect; any other error says the store could not be
// asked. Answer such a request with a 5xx (503), so that the client retries
// and gets the outcome of the request that holds the key.
//
// Called for a request that holds no key (a method not covered, no key
// header, Options.FailOpen after a store failure), Confirm returns nil:
// nothing is fenced. Called periodically, it is the heartbeat of a handler
// that runs longer than its lease. ctx is the request's context, or one
// derived from it; its cancellation (the client went away) does not stop
// Confirm, which gives up after 5 s.
func Confirm(ctx context.Context) error {
	c, ok := ctx.Value(claimKey{}).(*claim)
	if !ok {
		return nil
	}
	// The client going away does not end the request's claim: the run
	// that commits stores its outcome for the client's retry.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	var err error
	if c.txn != nil {
		err = c.txn.Confirm(ctx)
	} else if ext, ok := c.store.(Extender); ok {
		err = ext.Extend(ctx, c.key, c.owner, c.lease)
	} else {
		return ErrCannotConfirm
	}
	if errors.Is(err, ErrLeaseLost) {
		c.logger.WarnContext(ctx, "idempotency: lease lost before the effect", "error", err)
	}
	return err
}
