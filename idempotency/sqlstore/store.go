package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rtchain/rtchain/idempotency"
)

// DefaultTable is the table a Store keeps its records in, unless
// Options.Table names another.
const DefaultTable = "idempotency_keys"

// DefaultMaxWait bounds how long BeginTx waits for a connection of the
// pool, unless Options.MaxWait says otherwise.
const DefaultMaxWait = 5 * time.Second

// Options configures a Store. The zero value is the documented defaults.
type Options struct {
	// Table is the table of the records: a plain identifier, optionally
	// qualified by a schema ("billing.idempotency_keys"). "" means
	// DefaultTable.
	Table string
	// Dialect is Postgres or SQLite. "" means the dialect of db's driver:
	// pgx, lib/pq, modernc.org/sqlite, mattn/go-sqlite3 or
	// ncruces/go-sqlite3 (pgx and modernc.org/sqlite are the two tested).
	Dialect string
	// TxOptions are those of each request's transaction. nil means the
	// database's default isolation (PostgreSQL: read committed; SQLite:
	// serializable, as it always is).
	TxOptions *sql.TxOptions
	// MaxWait bounds how long a keyed request waits for a connection of
	// db's pool before it is answered 503. 0 means DefaultMaxWait.
	MaxWait time.Duration
}

// Store is an idempotency.TxStore on a SQL database. Its methods are safe for
// concurrent use. Use one Store per database (SQLite: per file) in a
// process.
type Store struct {
	db      *sql.DB
	d       dialect
	table   string
	txOpts  *sql.TxOptions
	maxWait time.Duration
	q       statements

	mu       sync.Mutex
	inflight map[string]string // SQLite: key → owner, for transactions not yet committed
}

var (
	_ idempotency.TxStore  = (*Store)(nil)
	_ idempotency.Extender = (*Store)(nil)
)

// New returns a Store on db, in the dialect of its driver unless
// o.Dialect names one. It touches nothing: create the table with
// CreateTable, or with DDL in a migration.
func New(db *sql.DB, o Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !validTable(o.Table) {
		return nil, fmt.Errorf("sqlstore: table %q is not a plain identifier", o.Table)
	}
	if o.MaxWait < 0 {
		return nil, errors.New("sqlstore: negative MaxWait")
	}
	if o.MaxWait == 0 {
		o.MaxWait = DefaultMaxWait
	}
	d, err := detect(db, o.Dialect)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, d: d, table: o.Table, txOpts: o.TxOptions, maxWait: o.MaxWait,
		q: prepare(d, o.Table), inflight: map[string]string{}}, nil
}

// DDL returns the statements that create the table and its index, if
// missing, for a migration tool: one statement per element.
func (s *Store) DDL() []string {
	index := s.table[strings.LastIndex(s.table, ".")+1:] + "_expires_at"
	return []string{
		s.d.sql(s.table, `CREATE TABLE IF NOT EXISTS {t} (
	ikey        text PRIMARY KEY,
	owner       text NOT NULL,
	fingerprint text NOT NULL,
	status      integer,
	header      text,
	body        {blob},
	not_stored  {bool} NOT NULL DEFAULT FALSE,
	expires_at  bigint NOT NULL
)`),
		s.d.sql(s.table, `CREATE INDEX IF NOT EXISTS `+index+` ON {t} (expires_at)`),
	}
}

// CreateTable creates the table and its index, if missing.
func (s *Store) CreateTable(ctx context.Context) error {
	for _, q := range s.DDL() {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlstore: create table: %w", err)
		}
	}
	return nil
}

// DeleteExpired deletes up to limit records whose lease or TTL has ended,
// and reports how many it deleted. Records expire on their own (an expired
// one is overwritten by the next Begin of its key); DeleteExpired keeps a
// table of keys never seen again from growing: call it periodically (a
// ticker, a cron job) until it deletes fewer than limit. On PostgreSQL it
// skips rows that a running request holds.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q.sweep, limit)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired: %w", err)
	}
	return res.RowsAffected()
}

// Begin acquires key for r.Owner, as idempotency.Store says, in a
// transaction of its own that commits before it returns.
func (s *Store) Begin(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (idempotency.Record, bool, error) {
	if rec, busy := s.busy(key, r); busy {
		return rec, false, nil
	}
	if rec, found, err := s.completed(ctx, key); err != nil || found {
		return rec, false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	existing, acquired, err := s.acquire(ctx, tx, key, r, lease, 0)
	if err != nil || !acquired {
		return existing, false, err
	}
	if err := tx.Commit(); err != nil {
		return idempotency.Record{}, false, fmt.Errorf("sqlstore: begin: %w", err)
	}
	return idempotency.Record{}, true, nil
}

// busy reports whether key is held by a transaction of this process not yet
// committed (SQLite, where asking the database would wait for it).
func (s *Store) busy(key string, r idempotency.Record) (idempotency.Record, bool) {
	if s.d.name != SQLite {
		return idempotency.Record{}, false
	}
	s.mu.Lock()
	owner, ok := s.inflight[key]
	s.mu.Unlock()
	return idempotency.Record{Owner: owner, Fingerprint: r.Fingerprint}, ok
}

// acquire takes key for r.Owner in tx, or reports the live record that
// holds it. On PostgreSQL it first takes the key's advisory lock, so that a
// request whose transaction holds the key is seen at once, never waited
// for; idle, when positive, is the longest the transaction may then sit
// idle before the server ends it.
func (s *Store) acquire(ctx context.Context, tx *sql.Tx, key string, r idempotency.Record, lease, idle time.Duration) (idempotency.Record, bool, error) {
	if s.d.name == Postgres {
		var locked bool
		var err error
		if idle > 0 {
			var set string
			ms := strconv.FormatInt(max(idle.Milliseconds(), 1), 10)
			err = tx.QueryRowContext(ctx, s.q.lockIdle, s.lockID(key), ms).Scan(&locked, &set)
		} else {
			err = tx.QueryRowContext(ctx, s.q.lock, s.lockID(key)).Scan(&locked)
		}
		if err != nil {
			return idempotency.Record{}, false, fmt.Errorf("sqlstore: lock: %w", err)
		}
		if !locked { // a transaction of another request holds the key
			return idempotency.Record{Fingerprint: r.Fingerprint}, false, nil
		}
	}
	for range 3 {
		res, err := tx.ExecContext(ctx, s.q.acquire, key, r.Owner, r.Fingerprint, lease.Milliseconds())
		if err != nil {
			return idempotency.Record{}, false, fmt.Errorf("sqlstore: begin: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return idempotency.Record{}, err == nil, err
		}
		rec, found, err := s.load(ctx, tx, key)
		if err != nil || found {
			return rec, false, err
		}
		// The record expired between the two statements: try again.
	}
	return idempotency.Record{}, false, errors.New("sqlstore: begin: the record kept changing")
}

// completed reads key's completed record, outside any transaction.
func (s *Store) completed(ctx context.Context, key string) (idempotency.Record, bool, error) {
	return s.read(ctx, s.db, s.q.peek, key)
}

// load reads key's live record.
func (s *Store) load(ctx context.Context, tx *sql.Tx, key string) (idempotency.Record, bool, error) {
	return s.read(ctx, tx, s.q.load, key)
}

func (s *Store) read(ctx context.Context, x execer, q, key string) (idempotency.Record, bool, error) {
	var (
		rec       idempotency.Record
		status    sql.NullInt64
		header    sql.NullString
		body      []byte
		notStored bool
	)
	err := x.QueryRowContext(ctx, q, key).Scan(&rec.Owner, &rec.Fingerprint, &status, &header, &body, &notStored)
	if errors.Is(err, sql.ErrNoRows) {
		return idempotency.Record{}, false, nil
	}
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("sqlstore: load: %w", err)
	}
	if status.Valid {
		resp, err := decodeResponse(status.Int64, header.String, body, notStored)
		if err != nil {
			return idempotency.Record{}, false, fmt.Errorf("sqlstore: record %q: %w", key, err)
		}
		rec.Response = resp
	}
	return rec, true, nil
}

// Complete stores resp as key's outcome, as idempotency.Store says.
func (s *Store) Complete(ctx context.Context, key, owner string, resp *idempotency.Response, ttl time.Duration) error {
	return s.complete(ctx, s.db, key, owner, resp, ttl)
}

// execer is what *sql.DB and *sql.Tx share.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) complete(ctx context.Context, x execer, key, owner string, resp *idempotency.Response, ttl time.Duration) error {
	header, err := encodeHeader(resp.Header)
	if err != nil {
		return err
	}
	res, err := x.ExecContext(ctx, s.q.complete, key, owner, resp.Status, header, resp.Body, resp.NotStored, ttl.Milliseconds())
	if err != nil {
		return fmt.Errorf("sqlstore: complete: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	// A Complete sent again after a lost reply finds its response stored.
	var one int
	err = x.QueryRowContext(ctx, s.q.completedBy, key, owner).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return idempotency.ErrLeaseLost
	case err != nil:
		return fmt.Errorf("sqlstore: complete: %w", err)
	}
	return nil
}

// Release deletes key's record, as idempotency.Store says.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	return s.owned(ctx, s.q.release, "release", key, owner)
}

// Extend renews key's lease, as idempotency.Extender says.
func (s *Store) Extend(ctx context.Context, key, owner string, lease time.Duration) error {
	return s.owned(ctx, s.q.extend, "extend", key, owner, lease.Milliseconds())
}

// owned runs q, a statement on key's record in progress held by owner, and
// reports ErrLeaseLost when no such record is there.
func (s *Store) owned(ctx context.Context, q, what, key, owner string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, append([]any{key, owner}, args...)...)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// lockID is key's advisory lock on PostgreSQL: the first 64 bits of the
// SHA-256 of the table and the key. Two keys that share one only make one
// of them wait for the other with a 409; a cryptographic hash keeps a
// caller from crafting a key that shares another's (FNV, which this was,
// can be solved for in moments), as every instance must compute the same
// id without a shared secret.
func (s *Store) lockID(key string) int64 {
	h := sha256.New()
	h.Write([]byte(s.table))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return int64(binary.BigEndian.Uint64(h.Sum(sum[:0])))
}
