package pgtest_test

import (
	"database/sql"
	"fmt"

	"github.com/rtchain/rtchain/idempotency/sqlstore/pgtest"
)

// A server for a test: started, killed as in a crash, started again with
// what it had committed.
func Example() {
	s, err := pgtest.Launch()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Remove()
	db, _ := sql.Open("pgx", s.DSN("postgres"))
	defer db.Close()
	_, _ = db.Exec("CREATE TABLE t (v int)")
	_, _ = db.Exec("INSERT INTO t VALUES (42)")

	s.Kill()
	if err := s.Restart(); err != nil {
		fmt.Println(err)
		return
	}
	// The pool's connections died with the server: a new pool.
	db2, _ := sql.Open("pgx", s.DSN("postgres"))
	defer db2.Close()
	var v int
	if err := db2.QueryRow("SELECT v FROM t").Scan(&v); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after a crash:", v)
	// Output: after a crash: 42
}
