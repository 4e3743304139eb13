package sqlstore

import (
	"database/sql"
	"fmt"
	"reflect"
	"strings"
)

// The dialects, as Options.Dialect names them.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// dialect is what differs between the databases: the clock, the types, the
// placeholders, and whether the store takes an advisory lock (PostgreSQL,
// where a duplicate's INSERT would otherwise wait for the first request's
// transaction) or keeps the keys in flight itself (SQLite, one writer).
type dialect struct {
	name     string
	now      string // the database's clock, in milliseconds since 1970
	blob     string
	boolean  string
	question bool // placeholders are ?N, not $N
}

var dialects = map[string]dialect{
	Postgres: {name: Postgres, now: "(extract(epoch from clock_timestamp()) * 1000)::bigint", blob: "bytea", boolean: "boolean"},
	SQLite: {name: SQLite, now: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)", blob: "blob", boolean: "integer",
		question: true},
}

// drivers maps the package of a database/sql driver to its dialect. Only
// pgx and modernc.org/sqlite are tested; the others speak the same SQL.
var drivers = map[string]string{
	"github.com/jackc/pgx/v5/stdlib":       Postgres,
	"github.com/jackc/pgx/v4/stdlib":       Postgres,
	"github.com/lib/pq":                    Postgres,
	"modernc.org/sqlite":                   SQLite,
	"github.com/mattn/go-sqlite3":          SQLite,
	"github.com/ncruces/go-sqlite3/driver": SQLite,
}

// detect finds the dialect of db's driver, or of name when it is set.
func detect(db *sql.DB, name string) (dialect, error) {
	if name == "" {
		t := reflect.TypeOf(db.Driver())
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		name = drivers[t.PkgPath()]
		if name == "" {
			return dialect{}, fmt.Errorf("sqlstore: driver %s (package %q) is not one this store knows; set Options.Dialect", t, t.PkgPath())
		}
	}
	d, ok := dialects[name]
	if !ok {
		return dialect{}, fmt.Errorf("sqlstore: unknown dialect %q (want %q or %q)", name, Postgres, SQLite)
	}
	return d, nil
}

// sql writes q for the dialect: {t} is the table, {now} the clock, and
// placeholders $N become ?N where the dialect wants them.
func (d dialect) sql(table, q string) string {
	q = strings.NewReplacer("{t}", table, "{now}", d.now, "{blob}", d.blob, "{bool}", d.boolean).Replace(q)
	if d.question {
		q = strings.ReplaceAll(q, "$", "?")
	}
	return q
}

// validTable reports whether name is a plain SQL identifier, optionally
// schema-qualified: it is written into statements, never quoted.
func validTable(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 63 {
			return false
		}
		for i, c := range p {
			ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
			if !ok {
				return false
			}
		}
	}
	return true
}

// SQLiteDSN is the connection string this store wants of
// modernc.org/sqlite for the database file at path: write-ahead logging
// (readers never wait for the writer), a busy timeout of 10 s (a writer
// waits for the one before it, rather than fail), and transactions that
// take the write lock when they begin (so that none fails half-way for
// want of it).
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
}
