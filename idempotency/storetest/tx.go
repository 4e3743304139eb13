package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rtchain/rtchain/idempotency"
)

// answerBound is how long a Begin may take to answer while a transaction
// holds its key: "at once", with room for a loaded machine.
const answerBound = 2 * time.Second

// runTx is the contract of an idempotency.TxStore.
func runTx(t *testing.T, newStore func(t *testing.T) idempotency.Store, key func(*testing.T) string, resp *idempotency.Response) {
	ctx := context.Background()
	begin := func(t *testing.T, s idempotency.TxStore, k, owner string) idempotency.Txn {
		t.Helper()
		_, txn, err := s.BeginTx(ctx, k, idempotency.Record{Owner: owner, Fingerprint: "fp"}, time.Minute)
		if err != nil || txn == nil {
			t.Fatalf("BeginTx(%q) = %v, %v; want a transaction", k, txn, err)
		}
		return txn
	}

	t.Run("tx: a key held by a transaction is answered at once, in progress", func(t *testing.T) {
		s, k := newStore(t).(idempotency.TxStore), key(t)
		txn := begin(t, s, k, "o")
		defer func() { _ = txn.Rollback(ctx) }()
		for name, try := range map[string]func(context.Context) (bool, error){
			"Begin": func(ctx context.Context) (bool, error) {
				_, acquired, err := s.Begin(ctx, k, idempotency.Record{Owner: "o2", Fingerprint: "fp"}, time.Minute)
				return acquired, err
			},
			"BeginTx": func(ctx context.Context) (bool, error) {
				_, other, err := s.BeginTx(ctx, k, idempotency.Record{Owner: "o3", Fingerprint: "fp"}, time.Minute)
				if other != nil {
					_ = other.Rollback(ctx)
				}
				return other != nil, err
			},
		} {
			bounded, cancel := context.WithTimeout(ctx, answerBound)
			acquired, err := try(bounded)
			cancel()
			if err != nil || acquired {
				t.Fatalf("%s while a transaction holds the key: acquired %v, %v; want in progress, at once", name, acquired, err)
			}
		}
		if err := txn.Confirm(ctx); err != nil {
			t.Fatalf("Confirm of a live transaction: %v", err)
		}
	})

	t.Run("tx: a rollback leaves no record", func(t *testing.T) {
		s, k := newStore(t).(idempotency.TxStore), key(t)
		txn := begin(t, s, k, "o")
		if err := txn.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		mustBegin(t, s, k, "o2", "fp", time.Minute, true)
	})

	t.Run("tx: a commit stores the response", func(t *testing.T) {
		s, k := newStore(t).(idempotency.TxStore), key(t)
		txn := begin(t, s, k, "o")
		if err := txn.Commit(ctx, resp, time.Minute); err != nil {
			t.Fatal(err)
		}
		got := mustBegin(t, s, k, "o2", "fp", time.Minute, false)
		if got.Owner != "o" || got.Response == nil || !reflect.DeepEqual(*got.Response, *resp) {
			t.Fatalf("after the commit: %+v", got)
		}
		existing, other, err := s.BeginTx(ctx, k, idempotency.Record{Owner: "o3", Fingerprint: "fp"}, time.Minute)
		if err != nil || other != nil || existing.Response == nil {
			t.Fatalf("BeginTx of a completed key: %+v, %v, %v; want the stored record", existing, other, err)
		}
	})

	t.Run("tx: a key in progress outside a transaction is not taken", func(t *testing.T) {
		s, k := newStore(t).(idempotency.TxStore), key(t)
		mustBegin(t, s, k, "o", "fp", time.Minute, true)
		existing, txn, err := s.BeginTx(ctx, k, idempotency.Record{Owner: "o2", Fingerprint: "fp"}, time.Minute)
		if err != nil || txn != nil || existing.Owner != "o" {
			t.Fatalf("BeginTx of a key leased by Begin: %+v, %v, %v", existing, txn, err)
		}
		if err := s.Complete(ctx, k, "o", resp, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, key(t), "o"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release of a key never begun: %v", err)
		}
	})
}
