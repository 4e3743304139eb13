package idempotency

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// storeTimeout bounds Complete and Release, which run on a context detached
// from the request: a client that goes away must not leave its key stuck.
// Within it, a store that fails is tried again (see settle).
const storeTimeout = 5 * time.Second

// settleBackoff is the first wait between two tries of settle, doubling up
// to settleMaxWait: a Redis whose master fails over answers again within a
// few seconds, and a key left leased meanwhile would answer its retries 409
// until the lease ran out (a minute by default), or run the handler again
// then, if the answer was lost too.
const (
	settleBackoff = 100 * time.Millisecond
	settleMaxWait = time.Second
)

// settle calls op until it succeeds, returns ErrLeaseLost (the record is
// another request's now, and left to it), or storeTimeout has passed, and
// returns op's last error and how many times it was called.
func settle(ctx context.Context, op func(context.Context) error) (tries int, err error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	wait := settleBackoff
	for tries = 1; ; tries++ {
		err = op(ctx)
		if err == nil || errors.Is(err, ErrLeaseLost) || !pause(ctx, wait) {
			return tries, err
		}
		wait = min(2*wait, settleMaxWait)
	}
}

// complete stores the response for key, trying again while the store
// fails, and returns the last error.
func (h *handler) complete(ctx context.Context, key, owner string, resp *Response) error {
	tries, err := settle(ctx, func(ctx context.Context) error {
		return h.o.Store.Complete(ctx, key, owner, resp, h.o.TTL)
	})
	if err != nil {
		h.o.Logger.ErrorContext(ctx, "idempotency: response not stored", "error", err, "tries", tries)
	}
	return err
}

// release frees key, trying again while the store fails.
func (h *handler) release(ctx context.Context, key, owner string) {
	tries, err := settle(ctx, func(ctx context.Context) error {
		return h.o.Store.Release(ctx, key, owner)
	})
	if err != nil {
		h.o.Logger.ErrorContext(ctx, "idempotency: key not released", "error", err, "tries", tries)
	}
}

// abandon frees what a Begin that failed may have taken: its reply may have
// been lost after the store wrote the record (a Redis master killed as it
// answered, its replica promoted with the record), and the key would then
// stay leased to a request that no longer runs. The answer is flushed
// first, so the client does not wait for the store. ErrLeaseLost is the
// common case: the record was never written. A BeginTx that failed holds
// nothing (its record was never committed), and ErrStoreFull is a refusal.
func (h *handler) abandon(ctx context.Context, w http.ResponseWriter, key, owner string, err error) {
	if _, tx := h.o.Store.(TxStore); tx || errors.Is(err, ErrStoreFull) {
		return
	}
	_ = http.NewResponseController(w).Flush()
	ctx = context.WithoutCancel(ctx)
	tries, err := settle(ctx, func(ctx context.Context) error {
		return h.o.Store.Release(ctx, key, owner)
	})
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		h.o.Logger.ErrorContext(ctx, "idempotency: key taken by a failed begin not released", "error", err, "tries", tries)
	}
}
