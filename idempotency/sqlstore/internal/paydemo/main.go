// Command paydemo is the payment service of rtchain's demo (go run
// ./cmd/demo, from the repository's root): POST /pay charges an order,
// behind idempotency.Middleware on a sqlstore.Store, and the charge goes in
// a ledger in the same SQLite database, in the request's transaction; GET
// /ledger says how many times each order was charged.
//
// It runs as a process of its own, because SQLite's driver belongs to this
// module and not to rtchain's: it listens on a free loopback port, prints
// "listening http://ADDR", and serves until its standard input closes (the
// demo ended), then deletes its database.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "paydemo:", err)
		os.Exit(1)
	}
}

func run(stdin io.Reader, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "rtchain-paydemo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, err := open(filepath.Join(dir, "payments.db"))
	if err != nil {
		return err
	}
	defer svc.db.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc.routes(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, bufio.NewReader(stdin)) // until the demo is done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// service is the payment service: one SQLite database for the ledger and
// the keys.
type service struct {
	db    *sql.DB
	store *sqlstore.Store
}

func open(path string) (*service, error) {
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(path))
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE charges (
	id       integer PRIMARY KEY,
	order_id text NOT NULL, -- no unique key: a second run would charge again
	amount   integer NOT NULL
)`); err != nil {
		db.Close()
		return nil, err
	}
	store, err := sqlstore.New(db, sqlstore.Options{})
	if err == nil {
		err = store.CreateTable(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &service{db: db, store: store}, nil
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /pay", idempotency.Middleware(idempotency.Options{Store: s.store})(http.HandlerFunc(s.charge)))
	mux.HandleFunc("GET /ledger", s.ledger)
	return mux
}

// charge is the payment: a row in the ledger, written in the request's
// transaction when it holds a key, so that it commits with the stored
// answer; on its own otherwise.
func (s *service) charge(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Order  string
		Amount int
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Order == "" {
		http.Error(w, "bad order", http.StatusBadRequest)
		return
	}
	if err := idempotency.Confirm(r.Context()); err != nil {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	const q = "INSERT INTO charges (order_id, amount) VALUES ($1, $2)"
	var err error
	if tx := sqlstore.Tx(r.Context()); tx != nil {
		_, err = tx.ExecContext(r.Context(), q, req.Order, req.Amount)
	} else {
		_, err = s.db.ExecContext(r.Context(), q, req.Order, req.Amount)
	}
	if err != nil {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"charged":%q}`, req.Order)
}

// ledger answers how many times each order was charged.
func (s *service) ledger(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.QueryContext(r.Context(), "SELECT order_id, count(*) FROM charges GROUP BY order_id")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var order string
		var n int
		if err := rows.Scan(&order, &n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out[order] = n
	}
	if err := rows.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
