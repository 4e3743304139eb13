//lint:file-ignore SA4006 the snippet leaves out its error checks, as docs do

package sqlstore_test

import (
	"database/sql"
	"net/http"
	"os"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"; or _ "modernc.org/sqlite" for "sqlite"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
)

// The snippet of docs/server.md, compiled; see
// transport/docs_snippets_test.go.
var _ = snippetSQL

func snippetSQL(order string, amount int) (func(http.Handler) http.Handler, http.HandlerFunc, error) {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // or "sqlite", sqlstore.SQLiteDSN(path)
	store, err := sqlstore.New(db, sqlstore.Options{})    // then store.CreateTable(ctx), or store.DDL() in a migration
	// Required: every POST carries a key, so the handler's Tx is never nil.
	mw := idempotency.Middleware(idempotency.Options{Store: store, Required: true})

	pay := func(w http.ResponseWriter, r *http.Request) {
		tx := sqlstore.Tx(r.Context()) // the request's transaction
		_, err := tx.ExecContext(r.Context(), "INSERT INTO charges (order_id, amount) VALUES ($1, $2)", order, amount)
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable) // the charge and the record roll back
			return
		}
		w.WriteHeader(http.StatusCreated) // sent once the charge and this answer have committed
	}
	return mw, pay, err
}
