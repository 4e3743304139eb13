package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
)

// The figures of the README's table:
//
//	cd idempotency/sqlstore
//	go test -run '^$' -bench . -benchmem -count 6 . | tee bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest bench.txt
//
// stmts/op counts what the database is sent per request (each statement,
// BEGIN and COMMIT included, is one round trip to PostgreSQL).

// counting wraps a database/sql driver and counts the statements its
// connections run.
type counting struct {
	driver.Driver
	n *atomic.Int64
}

func (c counting) Open(name string) (driver.Conn, error) {
	conn, err := c.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.n}, nil
}

type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *countingConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	c.n.Add(1)
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return countingTx{tx, c.n}, nil
}

func (c *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *countingConn) IsValid() bool {
	v, ok := c.Conn.(driver.Validator)
	return !ok || v.IsValid()
}

type countingTx struct {
	driver.Tx
	n *atomic.Int64
}

func (t countingTx) Commit() error   { t.n.Add(1); return t.Tx.Commit() }
func (t countingTx) Rollback() error { t.n.Add(1); return t.Tx.Rollback() }

var registerOnce sync.Once

// countedDB opens a database of the dialect whose statements n counts.
func countedDB(b *testing.B, dialect string, n *atomic.Int64) *sql.DB {
	registerOnce.Do(func() {
		sql.Register("counting-pgx", counting{stdlib.GetDefaultDriver(), &stmtCount})
		sql.Register("counting-sqlite", counting{&sqlite.Driver{}, &stmtCount})
	})
	var db *sql.DB
	var err error
	switch dialect {
	case sqlstore.Postgres:
		name := fmt.Sprintf("bench_%d", dbs.Add(1))
		postgres(b).CreateDB(b, name)
		db, err = sql.Open("counting-pgx", postgres(b).DSN(name))
	default:
		db, err = sql.Open("counting-sqlite", sqlstore.SQLiteDSN(b.TempDir()+"/bench.db"))
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec("CREATE TABLE ledger (note text NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	return db
}

// stmtCount is what the counting drivers add to.
var stmtCount atomic.Int64

const benchBody = `{"amount":1000,"currency":"EUR","source":"tok_visa"}`

// charge inserts a ledger row, through the request's transaction when it
// has one, and answers 201.
func charge(db *sql.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var err error
		if tx := sqlstore.Tx(r.Context()); tx != nil {
			_, err = tx.ExecContext(r.Context(), "INSERT INTO ledger (note) VALUES ($1)", string(b))
		} else {
			_, err = db.ExecContext(r.Context(), "INSERT INTO ledger (note) VALUES ($1)", string(b))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"ch_1","status":"succeeded"}`)
	})
}

// BenchmarkKeyedPOST is a keyed POST whose effect is a ledger row, served
// in process (no network to the client), per database: the handler alone;
// behind the middleware on a MemoryStore (the row committed on its own);
// behind it on the database's sqlstore (the row and the record in one
// transaction), a first request and a replay.
func BenchmarkKeyedPOST(b *testing.B) {
	for _, dialect := range []string{sqlstore.SQLite, sqlstore.Postgres} {
		b.Run(dialect, func(b *testing.B) {
			db := countedDB(b, dialect, &stmtCount)
			s, err := sqlstore.New(db, sqlstore.Options{Dialect: dialect})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.CreateTable(context.Background()); err != nil {
				b.Fatal(err)
			}
			h := charge(db)
			mem := idempotency.Middleware(idempotency.Options{Store: idempotency.NewMemoryStore(1<<24, 1<<34)})(h)
			sqlmw := idempotency.Middleware(idempotency.Options{Store: s})(h)
			var seq atomic.Int64
			fresh := func() string { return "key-" + strconv.FormatInt(seq.Add(1), 10) }
			for _, c := range []struct {
				name string
				h    http.Handler
				key  func() string
			}{
				{"handler alone", h, func() string { return "" }},
				{"memory store, first request", mem, fresh},
				{"sqlstore, first request", sqlmw, fresh},
				{"sqlstore, replay", sqlmw, func() string { return "the-same-key" }},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					serveOne(b, c.h, c.key()) // warm: the replay's record, the statement caches
					start := stmtCount.Load()
					for b.Loop() {
						serveOne(b, c.h, c.key())
					}
					b.ReportMetric(float64(stmtCount.Load()-start)/float64(b.N), "stmts/op")
				})
			}
		})
	}
}

func serveOne(b *testing.B, h http.Handler, key string) {
	req := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(benchBody))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusCreated {
		b.Fatalf("%d %s", w.Code, w.Body)
	}
}

// BenchmarkTwoInstances is a fleet: two HTTP servers on loopback, each with
// its own pool to one PostgreSQL, and 8 clients sending keyed POSTs to
// them in turn. req/s is the fleet's throughput: without the middleware,
// with it on first requests, and on replays (8 keys, sent again and again).
func BenchmarkTwoInstances(b *testing.B) {
	name := fmt.Sprintf("fleet_%d", dbs.Add(1))
	admin := postgres(b).CreateDB(b, name)
	if _, err := admin.Exec("CREATE TABLE ledger (note text NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	var urls [2]string
	var plain [2]string
	for i := range urls {
		db, err := sql.Open("pgx", postgres(b).DSN(name))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = db.Close() })
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		s, err := sqlstore.New(db, sqlstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			if err := s.CreateTable(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		srv := httptest.NewServer(idempotency.Middleware(idempotency.Options{Store: s})(charge(db)))
		b.Cleanup(srv.Close)
		urls[i] = srv.URL
		bare := httptest.NewServer(charge(db))
		b.Cleanup(bare.Close)
		plain[i] = bare.URL
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	var seq atomic.Int64
	for _, c := range []struct {
		name string
		urls [2]string
		key  func(worker int64) string
	}{
		{"without the middleware", plain, func(int64) string { return "" }},
		{"first requests", urls, func(int64) string { return "f-" + strconv.FormatInt(seq.Add(1), 10) }},
		{"replays", urls, func(w int64) string { return "r-" + strconv.FormatInt(w%8, 10) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var workers atomic.Int64
			b.SetParallelism(4) // 8 clients on 2 cores
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				w := workers.Add(1)
				for i := 0; pb.Next(); i++ {
					req, _ := http.NewRequest(http.MethodPost, c.urls[i%2]+"/charges", strings.NewReader(benchBody))
					if k := c.key(w); k != "" {
						req.Header.Set("Idempotency-Key", k)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
