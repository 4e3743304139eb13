package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rtchain/rtchain/idempotency"
)

type txKey struct{}

// Tx returns the transaction of the request whose context is ctx: what the
// handler writes through it commits together with the stored response, or
// not at all. It returns nil for a request that holds no key (a method the
// middleware does not cover, no key, a duplicate). Write through it, never
// through the *sql.DB, in a request that has one: on SQLite, the one writer
// is this transaction until it ends.
func Tx(ctx context.Context) *sql.Tx {
	t, _ := ctx.Value(txKey{}).(*txn)
	if t == nil {
		return nil
	}
	return t.tx
}

// txn is one request's transaction: its own connection, taken from the
// pool for the whole run, and the key's record written in it.
type txn struct {
	s          *Store
	conn       *sql.Conn
	tx         *sql.Tx
	key, owner string
}

// BeginTx takes key for r.Owner in a new transaction, as
// idempotency.TxStore says. The transaction has a connection of its own
// for the whole run; on PostgreSQL it holds the key's advisory lock, and
// sits idle at most lease (idle_in_transaction_session_timeout) before the
// server ends it and frees the key. On SQLite the transaction is the
// database's one writer, and the store answers duplicates from what it
// holds in flight.
func (s *Store) BeginTx(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (idempotency.Record, idempotency.Txn, error) {
	if s.d.name == SQLite {
		s.mu.Lock()
		owner, busy := s.inflight[key]
		if !busy {
			s.inflight[key] = r.Owner
		}
		s.mu.Unlock()
		if busy {
			return idempotency.Record{Owner: owner, Fingerprint: r.Fingerprint}, nil, nil
		}
	}
	t, existing, err := s.beginTx(ctx, key, r, lease)
	if t == nil {
		s.done(key)
		return existing, nil, err
	}
	return idempotency.Record{}, t, nil
}

func (s *Store) beginTx(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (*txn, idempotency.Record, error) {
	// The replay's read and the connection both come from the pool: a full
	// pool is waited for MaxWait at most.
	wait, cancel := context.WithTimeout(ctx, s.maxWait)
	defer cancel()
	if rec, found, err := s.completed(wait, key); err != nil || found {
		return nil, rec, err
	}
	conn, err := s.db.Conn(wait)
	if err != nil {
		return nil, idempotency.Record{}, fmt.Errorf("sqlstore: no connection: %w", err)
	}
	// The transaction outlives the client: a run whose client went away
	// still commits, for the client's retry to find.
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), s.txOpts)
	if err != nil {
		_ = conn.Close()
		return nil, idempotency.Record{}, fmt.Errorf("sqlstore: begin: %w", err)
	}
	t := &txn{s: s, conn: conn, tx: tx, key: key, owner: r.Owner}
	existing, acquired, err := s.acquire(ctx, tx, key, r, lease, lease)
	if err != nil || !acquired {
		t.end(false)
		return nil, existing, err
	}
	return t, idempotency.Record{}, nil
}

// done forgets key in flight.
func (s *Store) done(key string) {
	if s.d.name == SQLite {
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
	}
}

// Context returns ctx carrying the transaction, for Tx.
func (t *txn) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, txKey{}, t)
}

// Commit stores resp in the transaction and commits it.
func (t *txn) Commit(ctx context.Context, resp *idempotency.Response, ttl time.Duration) error {
	if err := t.s.complete(ctx, t.tx, t.key, t.owner, resp, ttl); err != nil {
		t.end(false)
		return t.s.classify(err)
	}
	return t.s.classify(t.end(true))
}

// Rollback undoes the transaction.
func (t *txn) Rollback(context.Context) error {
	err := t.end(false)
	if errors.Is(err, sql.ErrTxDone) {
		return nil // the server had ended it already
	}
	return err
}

// Confirm checks, in the transaction, that it still holds the key; any
// statement also restarts the server's idle clock, which is the lease.
func (t *txn) Confirm(ctx context.Context) error {
	var one int
	err := t.tx.QueryRowContext(ctx, t.s.q.renew, t.key, t.owner).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return idempotency.ErrLeaseLost
	}
	return t.s.classify(err)
}

// end commits or rolls back, and gives the connection back.
func (t *txn) end(commit bool) error {
	var err error
	if commit {
		err = t.tx.Commit()
	} else {
		err = t.tx.Rollback()
	}
	_ = t.conn.Close()
	t.s.done(t.key)
	return err
}

// classify turns the server ending an idle transaction (PostgreSQL's
// SQLSTATE 25P03: the lease ran out) into ErrLeaseLost.
func (s *Store) classify(err error) error {
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) && coded.SQLState() == "25P03" {
		return fmt.Errorf("%w: %w", idempotency.ErrLeaseLost, err)
	}
	if err != nil && !errors.Is(err, idempotency.ErrLeaseLost) {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return err
}
