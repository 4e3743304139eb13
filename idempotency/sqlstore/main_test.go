package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
	"github.com/rtchain/rtchain/idempotency/sqlstore/pgtest"
)

var (
	pgOnce sync.Once
	pg     *pgtest.Server
	pgErr  error
	dbs    atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pg != nil {
		pg.Remove()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// postgres returns the package's PostgreSQL server, started on first use.
func postgres(t testing.TB) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = pgtest.Launch() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	return pg
}

// dialects opens a fresh database of each dialect.
var dialects = map[string]func(t testing.TB) *sql.DB{
	sqlstore.Postgres: func(t testing.TB) *sql.DB {
		return postgres(t).CreateDB(t, fmt.Sprintf("test_%d", dbs.Add(1)))
	},
	sqlstore.SQLite: func(t testing.TB) *sql.DB { return openSQLite(t, filepath.Join(t.TempDir(), "test.db")) },
}

func openSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// newStore is a Store on db with its table created.
func newStore(t testing.TB, db *sql.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// each runs f once per dialect.
func each(t *testing.T, f func(t *testing.T, open func(testing.TB) *sql.DB)) {
	for _, name := range []string{sqlstore.Postgres, sqlstore.SQLite} {
		t.Run(name, func(t *testing.T) { f(t, dialects[name]) })
	}
}

func isPostgres(t *testing.T) bool { return strings.Contains(t.Name(), "/"+sqlstore.Postgres) }

// crashEnv names the database file of a child process that must crash
// mid-transaction (faults_test.go).
const crashEnv = "SQLSTORE_CRASH_CHILD"

func init() {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
	}
}

func sqliteDSN(path string) string { return sqlstore.SQLiteDSN(path) }

func newStoreOrPanic(db *sql.DB) *sqlstore.Store {
	s, err := sqlstore.New(db, sqlstore.Options{})
	if err != nil {
		panic(err)
	}
	return s
}

// txFrom is the *sql.Tx of a Store's transaction, as a handler finds it.
func txFrom(txn idempotency.Txn) *sql.Tx {
	return sqlstore.Tx(txn.Context(context.Background()))
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
