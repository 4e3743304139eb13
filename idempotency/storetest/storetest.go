// Package storetest is the contract every idempotency.Store must keep, as a
// test suite: run it against your own Store with Run. It checks acquisition,
// completion and release, fencing by owner token, lease and TTL expiry,
// lease extension (for a Store that is an idempotency.Extender), a
// transaction's hold on its key (for an idempotency.TxStore), and that
// concurrent Begins on one key let exactly one through.
package storetest

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtchain/rtchain/idempotency"
)

// Run runs the contract against the stores newStore returns, one fresh
// store per subtest. Keys are unique to each subtest, so a shared backing
// database is fine.
func Run(t *testing.T, newStore func(t *testing.T) idempotency.Store) {
	t.Helper()
	var n atomic.Int64
	key := func(t *testing.T) string {
		return "storetest:" + t.Name() + ":" + strconv.FormatInt(n.Add(1), 10)
	}
	ctx := context.Background()
	resp := &idempotency.Response{
		Status: http.StatusCreated,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}},
		Body:   []byte("{\"id\":1}\x00\xff binary-safe"),
	}

	t.Run("begin, in progress, complete, replay", func(t *testing.T) {
		s, k := newStore(t), key(t)
		mustBegin(t, s, k, "owner-1", "fp", time.Minute, true)
		got := mustBegin(t, s, k, "owner-2", "fp", time.Minute, false)
		if got.Owner != "owner-1" || got.Fingerprint != "fp" || got.Response != nil {
			t.Fatalf("in progress: got %+v", got)
		}
		if err := s.Complete(ctx, k, "owner-1", resp, time.Minute); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		got = mustBegin(t, s, k, "owner-3", "fp", time.Minute, false)
		if got.Response == nil || !reflect.DeepEqual(*got.Response, *resp) {
			t.Fatalf("stored response: got %+v, want %+v", got.Response, resp)
		}
		if got.Fingerprint != "fp" {
			t.Fatalf("fingerprint: got %q", got.Fingerprint)
		}
	})

	t.Run("a response not stored keeps its mark", func(t *testing.T) {
		s, k := newStore(t), key(t)
		mustBegin(t, s, k, "o", "fp", time.Minute, true)
		if err := s.Complete(ctx, k, "o", &idempotency.Response{Status: 200, NotStored: true}, time.Minute); err != nil {
			t.Fatal(err)
		}
		got := mustBegin(t, s, k, "o2", "fp", time.Minute, false)
		if got.Response == nil || !got.Response.NotStored || got.Response.Status != 200 {
			t.Fatalf("got %+v", got.Response)
		}
	})

	t.Run("a call sent twice by its owner: the same outcome", func(t *testing.T) {
		s, k := newStore(t), key(t)
		mustBegin(t, s, k, "o", "fp", time.Minute, true)
		mustBegin(t, s, k, "o", "fp", time.Minute, true) // the reply to the first was lost
		mustBegin(t, s, k, "o2", "fp", time.Minute, false)
		if err := s.Complete(ctx, k, "o", resp, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, k, "o", &idempotency.Response{Status: 500}, time.Minute); err != nil {
			t.Fatalf("the owner's Complete sent again: %v, want nil", err)
		}
		got := mustBegin(t, s, k, "o", "fp", time.Minute, false)
		if got.Response == nil || got.Response.Status != resp.Status {
			t.Fatalf("a Complete sent again changed the record, or a Begin after it acquired: %+v", got.Response)
		}
	})

	t.Run("release frees the key", func(t *testing.T) {
		s, k := newStore(t), key(t)
		mustBegin(t, s, k, "o", "fp", time.Minute, true)
		if err := s.Release(ctx, k, "o"); err != nil {
			t.Fatal(err)
		}
		mustBegin(t, s, k, "o2", "fp", time.Minute, true)
	})

	t.Run("only the owner completes or releases", func(t *testing.T) {
		s, k := newStore(t), key(t)
		mustBegin(t, s, k, "o", "fp", time.Minute, true)
		if err := s.Complete(ctx, k, "intruder", resp, time.Minute); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Complete by another owner: %v, want ErrLeaseLost", err)
		}
		if err := s.Release(ctx, k, "intruder"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release by another owner: %v, want ErrLeaseLost", err)
		}
		if err := s.Complete(ctx, k, "o", resp, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, k, "o"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Release of a completed record: %v, want ErrLeaseLost", err)
		}
		if err := s.Complete(ctx, key(t), "o", resp, time.Minute); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Complete of a key never begun: %v, want ErrLeaseLost", err)
		}
	})

	t.Run("an expired lease is fenced off", func(t *testing.T) {
		s, k := newStore(t), key(t)
		mustBegin(t, s, k, "stale", "fp", 50*time.Millisecond, true)
		eventually(t, "the lease expires", func() bool {
			_, acquired, err := s.Begin(ctx, k, idempotency.Record{Owner: "fresh", Fingerprint: "fp"}, time.Minute)
			return err == nil && acquired
		})
		if err := s.Complete(ctx, k, "stale", resp, time.Minute); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("stale Complete: %v, want ErrLeaseLost", err)
		}
		if err := s.Release(ctx, k, "stale"); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("stale Release: %v, want ErrLeaseLost", err)
		}
		if err := s.Complete(ctx, k, "fresh", resp, time.Minute); err != nil {
			t.Fatalf("the new owner's Complete: %v", err)
		}
		got := mustBegin(t, s, k, "x", "fp", time.Minute, false)
		if got.Owner != "fresh" || got.Response == nil {
			t.Fatalf("got %+v", got)
		}
	})

	t.Run("extend: only the live owner, never a completed record", func(t *testing.T) {
		s, k := newStore(t), key(t)
		ext, ok := s.(idempotency.Extender)
		if !ok {
			t.Skip("the store does not implement idempotency.Extender")
		}
		mustBegin(t, s, k, "o", "fp", 200*time.Millisecond, true)
		if err := ext.Extend(ctx, k, "intruder", time.Minute); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Extend by another owner: %v, want ErrLeaseLost", err)
		}
		if err := ext.Extend(ctx, k, "o", time.Minute); err != nil {
			t.Fatalf("Extend by the owner: %v", err)
		}
		time.Sleep(400 * time.Millisecond) // past the first lease: the extension must hold the key
		mustBegin(t, s, k, "o2", "fp", time.Minute, false)
		if err := s.Complete(ctx, k, "o", resp, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := ext.Extend(ctx, k, "o", time.Minute); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Extend of a completed record: %v, want ErrLeaseLost", err)
		}
		eventually(t, "the completed record expires after its ttl, not the extension", func() bool {
			_, acquired, err := s.Begin(ctx, k, idempotency.Record{Owner: "o3", Fingerprint: "fp"}, 50*time.Millisecond)
			return err == nil && acquired
		})
		eventually(t, "o3's lease expires", func() bool {
			_, acquired, err := s.Begin(ctx, k, idempotency.Record{Owner: "o4", Fingerprint: "fp"}, time.Minute)
			return err == nil && acquired
		})
		if err := ext.Extend(ctx, k, "o3", time.Minute); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("Extend of an expired lease: %v, want ErrLeaseLost", err)
		}
	})

	t.Run("a completed record expires after its ttl", func(t *testing.T) {
		s, k := newStore(t), key(t)
		mustBegin(t, s, k, "o", "fp", time.Minute, true)
		if err := s.Complete(ctx, k, "o", resp, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the record expires", func() bool {
			_, acquired, err := s.Begin(ctx, k, idempotency.Record{Owner: "o2", Fingerprint: "fp"}, time.Minute)
			return err == nil && acquired
		})
	})

	if _, ok := newStore(t).(idempotency.TxStore); ok {
		runTx(t, newStore, key, resp)
	}

	t.Run("concurrent begins: exactly one acquires", func(t *testing.T) {
		s, k := newStore(t), key(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				_, acquired, err := s.Begin(ctx, k, idempotency.Record{Owner: "o" + strconv.Itoa(i), Fingerprint: "fp"}, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if acquired {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d of 20 concurrent Begins acquired the key", wins.Load())
		}
	})
}

func mustBegin(t *testing.T, s idempotency.Store, key, owner, fp string, lease time.Duration, want bool) idempotency.Record {
	t.Helper()
	got, acquired, err := s.Begin(context.Background(), key, idempotency.Record{Owner: owner, Fingerprint: fp}, lease)
	if err != nil {
		t.Fatalf("Begin(%q): %v", key, err)
	}
	if acquired != want {
		t.Fatalf("Begin(%q) acquired = %v, want %v (record %+v)", key, acquired, want, got)
	}
	return got
}

// eventually polls cond until it holds, for at most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling an expiry, not synchronising goroutines
	}
}
