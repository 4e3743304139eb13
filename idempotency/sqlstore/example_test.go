package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
)

// A payment service whose ledger and keys share one SQLite database: the
// charge and its stored answer commit together, and a retry replays it.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "payments.db")))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE ledger (amount text NOT NULL)"); err != nil {
		panic(err)
	}
	store, err := sqlstore.New(db, sqlstore.Options{})
	if err != nil {
		panic(err)
	}
	if err := store.CreateTable(ctx); err != nil {
		panic(err)
	}

	charge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		amount, _ := io.ReadAll(r.Body)
		tx := sqlstore.Tx(r.Context()) // nil for a request without a key
		if tx == nil {
			http.Error(w, "an Idempotency-Key is required", http.StatusBadRequest)
			return
		}
		if _, err := tx.ExecContext(r.Context(), "INSERT INTO ledger (amount) VALUES ($1)", string(amount)); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable) // rolled back
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "charged %s", amount)
	})
	srv := httptest.NewServer(idempotency.Middleware(idempotency.Options{Store: store})(charge))
	defer srv.Close()

	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("10 EUR"))
		req.Header.Set("Idempotency-Key", "order-42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body), "replayed:", resp.Header.Get("Idempotent-Replayed") == "true")
	}
	var charges int
	_ = db.QueryRow("SELECT count(*) FROM ledger").Scan(&charges)
	fmt.Println("charges in the ledger:", charges)
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 201 charged 10 EUR replayed: false
	// 201 charged 10 EUR replayed: true
	// charges in the ledger: 1
}
