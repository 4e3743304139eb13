package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// retryPast posts until the answer is no longer 409 or 503 (what a client
// of rtchain retries), for at most 10 s, and returns that answer.
func retryPast(t *testing.T, url, key, body string) answer {
	t.Helper()
	var a answer
	require.Eventually(t, func() bool {
		a = post(t, url, key, body)
		return a.status != http.StatusConflict && a.status != http.StatusServiceUnavailable
	}, 10*time.Second, 20*time.Millisecond)
	return a
}

// TestDeathBeforeCommit: whatever ends the transaction before its commit
// (its backend terminated, the database killed and restarted), the
// client's answer is a 503 and never the handler's, neither the effect nor
// the record is left, and the retry runs the handler once.
func TestDeathBeforeCommit(t *testing.T) {
	pg := postgres(t)
	for name, fault := range map[string]func(t *testing.T, database string){
		"backend terminated": func(t *testing.T, database string) {
			n, err := pg.Terminate(database, "state = 'idle in transaction'")
			require.NoError(t, err)
			require.Equal(t, 1, n)
		},
		"database killed and restarted": func(t *testing.T, _ string) {
			pg.Kill()
			require.NoError(t, pg.Restart())
		},
	} {
		t.Run(name, func(t *testing.T) {
			database := fmt.Sprintf("death_%d", dbs.Add(1))
			db := pg.CreateDB(t, database)
			p := newPayments(t, db)
			first := true
			p.hold = func(*http.Request) {
				if first {
					first = false
					fault(t, database)
				}
			}
			srv := serve(t, newStore(t, db), p, idempotency.Options{Logger: quiet()})
			a := post(t, srv.URL, "k", "10 EUR")
			assert.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
			assert.Equal(t, 0, p.ledger())
			assert.Equal(t, 0, p.records())
			a = retryPast(t, srv.URL, "k", "10 EUR")
			assert.Equal(t, http.StatusCreated, a.status)
			assert.Equal(t, "true", post(t, srv.URL, "k", "10 EUR").header.Get("Idempotent-Replayed"))
			assert.Equal(t, 1, p.ledger(), "one effect")
		})
	}
}

// TestStalledRunLosesItsLease: a run idle in its transaction past the lease
// is ended by PostgreSQL; a duplicate takes the key and runs, and the stale
// run, when it wakes, commits nothing.
func TestStalledRunLosesItsLease(t *testing.T) {
	db := dialects["postgres"](t)
	p := newPayments(t, db)
	stalled, wake := make(chan struct{}), make(chan struct{})
	first := true
	p.hold = func(*http.Request) {
		if first {
			first = false
			close(stalled)
			<-wake
		}
	}
	srv := serve(t, newStore(t, db), p, idempotency.Options{Lease: 300 * time.Millisecond, Logger: quiet()})
	stale := make(chan answer, 1)
	go func() { stale <- post(t, srv.URL, "k", "10 EUR") }()
	<-stalled
	fresh := retryPast(t, srv.URL, "k", "10 EUR")
	assert.Equal(t, http.StatusCreated, fresh.status, "the duplicate ran once the lease was over")
	close(wake)
	a := <-stale
	assert.Contains(t, []int{http.StatusConflict, http.StatusServiceUnavailable}, a.status, "the stale run's answer is not sent")
	assert.Equal(t, 1, p.ledger(), "one effect")
	assert.Equal(t, fresh.body, post(t, srv.URL, "k", "10 EUR").body)
}

// crashChild is the process TestSQLiteProcessKilledMidTransaction kills:
// it takes a key in a transaction, writes the effect, says so, and waits.
func crashChild(path string) {
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		panic(err)
	}
	s := newStoreOrPanic(db)
	_, txn, err := s.BeginTx(context.Background(), "k", idempotency.Record{Owner: "child", Fingerprint: "f"}, time.Minute)
	if err != nil || txn == nil {
		panic(fmt.Sprint("BeginTx: ", err))
	}
	tx := txFrom(txn)
	if _, err := tx.Exec("INSERT INTO ledger (note) VALUES ('child')"); err != nil {
		panic(err)
	}
	fmt.Println("ready")
	select {} // until killed
}

func TestSQLiteProcessKilledMidTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	db := openSQLite(t, path)
	p := newPayments(t, db)
	s := newStore(t, db)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	assert.Equal(t, 0, p.ledger(), "the effect of the killed process is gone")
	_, acquired, err := s.Begin(context.Background(), "k", idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Minute)
	require.NoError(t, err)
	assert.True(t, acquired, "and so is its record: the retry runs")
}
