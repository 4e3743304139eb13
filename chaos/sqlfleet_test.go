package chaos

import (
	"database/sql"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
	"github.com/rtchain/rtchain/idempotency/sqlstore/pgtest"
)

// sqlFleet is two instances of a payment service on one PostgreSQL
// database, each through a Toxiproxy of its own. The effect is a plain
// INSERT into a ledger with no unique key, written through sqlstore.Tx: an
// effect that knows nothing of the key, so that any second run would leave
// a second row.
type sqlFleet struct {
	t        *testing.T
	pg       *pgtest.Server
	database string
	admin    *sql.DB // straight to the database, one connection: the checks
	opts     idempotency.Options
	// afterEffect, if set, runs after the ledger row is written, before
	// the answer (and so before the commit).
	afterEffect func(in *sqlInstance, r *http.Request)
	inst        []*sqlInstance
	lives       atomic.Int64
}

// sqlInstance is one replica: an HTTP server on a loopback address it
// keeps across restarts, and a pool to PostgreSQL through toDB.
type sqlInstance struct {
	f       *sqlFleet
	name    string
	addr    string
	toDB    *toxiproxy.Proxy
	started atomic.Int64 // when its current life began, in Unix ns; 0 while dead

	mu       sync.Mutex
	life     *sqlLife
	serving  sync.WaitGroup
	handlers sync.WaitGroup
	restarts sync.WaitGroup
}

// sqlLife is one run of an instance's process. Its connections carry its
// name (application_name), so that a kill can end them on the server's
// side, as a dead process's sockets end.
type sqlLife struct {
	name string
	srv  *http.Server
	db   *sql.DB
}

const ledgerDDL = `CREATE TABLE ledger (
	id     bigserial PRIMARY KEY,
	ikey   text NOT NULL, -- no unique key: the effect ignores the key
	amount text NOT NULL
)`

func newSQLFleet(t *testing.T, pg *pgtest.Server, database string, opts idempotency.Options) *sqlFleet {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	admin := pg.CreateDB(t, database)
	admin.SetMaxOpenConns(1)
	if _, err := admin.Exec(ledgerDDL); err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.New(admin, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	f := &sqlFleet{t: t, pg: pg, database: database, admin: admin, opts: opts}
	for _, name := range []string{"a", "b"} {
		addr, err := htu.ReusableAddr()
		if err != nil {
			t.Fatal(err)
		}
		in := &sqlInstance{f: f, name: name, addr: addr, toDB: newProxy(t, name+"-pg", pg.Addr)}
		f.inst = append(f.inst, in)
	}
	return f
}

// start starts the instances; afterEffect must be set before.
func (f *sqlFleet) start() {
	for _, in := range f.inst {
		if err := in.start(); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (in *sqlInstance) start() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		return err
	}
	l := &sqlLife{name: fmt.Sprintf("%s-%d", in.name, in.f.lives.Add(1))}
	l.db, err = sql.Open("pgx", fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable&application_name=%s",
		in.toDB.Listen, in.f.database, l.name))
	if err != nil {
		_ = ln.Close()
		return err
	}
	l.db.SetMaxOpenConns(24)
	store, err := sqlstore.New(l.db, sqlstore.Options{MaxWait: 2 * time.Second})
	if err != nil {
		_ = ln.Close()
		return err
	}
	o := in.f.opts
	o.Store = store
	mw := idempotency.Middleware(o)(in.pay())
	l.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.handlers.Add(1)
		defer in.handlers.Done()
		mw.ServeHTTP(w, r)
	}), ErrorLog: log.New(io.Discard, "", 0)}
	l.srv.SetKeepAlivesEnabled(false)
	in.life = l
	in.started.Store(time.Now().UnixNano())
	in.serving.Go(func() { _ = l.srv.Serve(ln) })
	return nil
}

// pay charges: one ledger row, in the request's transaction.
func (in *sqlInstance) pay() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		amount, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		key := r.Header.Get("Idempotency-Key")
		tx := sqlstore.Tx(r.Context())
		if tx == nil {
			http.Error(w, "a key is required", http.StatusBadRequest)
			return
		}
		var id int64
		if err := tx.QueryRowContext(r.Context(), "INSERT INTO ledger (ikey, amount) VALUES ($1, $2) RETURNING id",
			key, string(amount)).Scan(&id); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		if in.f.afterEffect != nil {
			in.f.afterEffect(in, r)
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, sqlAnswer(key, string(amount), id))
	})
}

func sqlAnswer(key, amount string, id int64) string {
	return fmt.Sprintf("charged %s for %s (ledger row %d)", key, amount, id)
}

// kill ends in's life as SIGKILL would: its server closes, and its
// connections to PostgreSQL end on the server's side, so that nothing it had
// not committed ever is. It reports false if in was dead already.
func (in *sqlInstance) kill() bool {
	in.mu.Lock()
	l := in.life
	in.life = nil
	in.started.Store(0)
	in.mu.Unlock()
	if l == nil {
		return false
	}
	_ = l.srv.Close()
	// Close refuses new statements at once; it waits for those under way,
	// which the terminated backends end.
	closed := make(chan struct{})
	go func() { _ = l.db.Close(); close(closed) }()
	if _, err := in.f.pg.Terminate(in.f.database, "application_name = '"+l.name+"'"); err != nil {
		in.f.t.Errorf("%s: terminate: %v", l.name, err)
	}
	in.restarts.Go(func() { <-closed })
	return true
}

func (in *sqlInstance) restartAfter(d time.Duration) {
	in.restarts.Go(func() {
		time.Sleep(d) // the instance is down: a supervisor restarts it
		if err := in.start(); err != nil {
			in.f.t.Errorf("%s: restart: %v", in.name, err)
		}
	})
}

func (f *sqlFleet) upFor(d time.Duration) bool {
	now := time.Now().UnixNano()
	for _, in := range f.inst {
		if s := in.started.Load(); s == 0 || now-s < int64(d) {
			return false
		}
	}
	return true
}

func (f *sqlFleet) hosts() []string {
	var out []string
	for _, in := range f.inst {
		out = append(out, in.addr)
	}
	return out
}

// close stops the fleet and waits for everything it started.
func (f *sqlFleet) close() {
	for _, in := range f.inst {
		in.restarts.Wait()
		in.mu.Lock()
		l := in.life
		in.life = nil
		in.mu.Unlock()
		if l != nil {
			_ = l.srv.Close()
			in.serving.Wait()
			in.handlers.Wait()
			_ = l.db.Close()
		}
		in.serving.Wait()
		in.handlers.Wait()
		in.restarts.Wait()
		in.toDB.Stop()
	}
}
