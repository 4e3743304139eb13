package sqlstore_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
)

// payments is a service whose effect is a ledger row with no unique key:
// an effect that knows nothing of the key, so that a second run would show.
type payments struct {
	t  testing.TB
	db *sql.DB
	// hold, when set, is called after the effect and before the answer.
	hold func(r *http.Request)
}

func newPayments(t testing.TB, db *sql.DB) *payments {
	_, err := db.Exec("CREATE TABLE ledger (note text NOT NULL)")
	require.NoError(t, err)
	return &payments{t: t, db: db}
}

func (p *payments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var x interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	} = p.db
	if tx := sqlstore.Tx(r.Context()); tx != nil {
		x = tx
	}
	if _, err := x.ExecContext(r.Context(), "INSERT INTO ledger (note) VALUES ($1)", string(b)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if p.hold != nil {
		p.hold(r)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, "charged "+string(b))
}

func (p *payments) ledger() int {
	var n int
	require.NoError(p.t, p.db.QueryRow("SELECT count(*) FROM ledger").Scan(&n))
	return n
}

func (p *payments) records() int {
	var n int
	require.NoError(p.t, p.db.QueryRow("SELECT count(*) FROM "+sqlstore.DefaultTable).Scan(&n))
	return n
}

type answer struct {
	status int
	header http.Header
	body   string
}

func post(t testing.TB, url, key, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func serve(t testing.TB, s *sqlstore.Store, h http.Handler, o idempotency.Options) *htu.Server {
	o.Store = s
	return htu.NewServer(t, idempotency.Middleware(o)(h))
}

func TestEffectAndAnswerCommitTogether(t *testing.T) {
	each(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		p := newPayments(t, db)
		srv := serve(t, newStore(t, db), p, idempotency.Options{})
		first := post(t, srv.URL, "k", "10 EUR")
		require.Equal(t, http.StatusCreated, first.status, first.body)
		for range 3 {
			again := post(t, srv.URL, "k", "10 EUR")
			assert.Equal(t, first.body, again.body)
			assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		}
		assert.Equal(t, 1, p.ledger())
		assert.Equal(t, http.StatusUnprocessableEntity, post(t, srv.URL, "k", "11 EUR").status)

		// A request that holds no key runs as it always did, without a
		// transaction.
		require.Equal(t, http.StatusCreated, post(t, srv.URL, "", "no key").status)
		require.Equal(t, http.StatusCreated, post(t, srv.URL, "", "no key").status)
		assert.Equal(t, 3, p.ledger())
		assert.Equal(t, 1, p.records())
	})
}

func TestFailureRollsBackEffectAndRecord(t *testing.T) {
	each(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		p := newPayments(t, db)
		fail := true
		p.hold = func(r *http.Request) {
			if fail {
				panic(http.ErrAbortHandler) // after the effect: the run is undone
			}
		}
		srv := serve(t, newStore(t, db), p, idempotency.Options{})
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
		req.Header.Set("Idempotency-Key", "k")
		_, err := http.DefaultClient.Do(req)
		require.Error(t, err, "the handler aborted")
		http.DefaultClient.CloseIdleConnections()
		assert.Equal(t, 0, p.ledger(), "the effect rolled back")
		assert.Equal(t, 0, p.records(), "and the record with it")
		fail = false
		assert.Equal(t, http.StatusCreated, post(t, srv.URL, "k", "x").status, "the retry runs on a clean slate")
		assert.Equal(t, 1, p.ledger())
	})
}

func TestDuplicateWhileRunningIsAnsweredAtOnce(t *testing.T) {
	each(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		p := newPayments(t, db)
		started, finish := make(chan struct{}), make(chan struct{})
		p.hold = func(r *http.Request) {
			if r.Header.Get("Idempotency-Key") == "slow" {
				close(started)
				<-finish
			}
		}
		srv := serve(t, newStore(t, db), p, idempotency.Options{})
		done := make(chan answer, 1)
		go func() { done <- post(t, srv.URL, "slow", "1") }()
		<-started
		begun := time.Now()
		dup := post(t, srv.URL, "slow", "1")
		assert.Equal(t, http.StatusConflict, dup.status)
		assert.Less(t, time.Since(begun), 2*time.Second, "at once, not after the first")
		if isPostgres(t) {
			// Other keys run meanwhile; SQLite has one writer, so they wait.
			assert.Equal(t, http.StatusCreated, post(t, srv.URL, "other", "2").status)
		}
		close(finish)
		assert.Equal(t, http.StatusCreated, (<-done).status)
		assert.Equal(t, "true", post(t, srv.URL, "slow", "1").header.Get("Idempotent-Replayed"))
	})
}

func TestFullPoolIsA503WithinMaxWait(t *testing.T) {
	each(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		p := newPayments(t, db)
		s, err := sqlstore.New(db, sqlstore.Options{MaxWait: 200 * time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, s.CreateTable(t.Context()))
		srv := serve(t, s, p, idempotency.Options{Logger: quiet()})
		db.SetMaxOpenConns(1)
		held, err := db.Conn(t.Context()) // the pool's only connection, taken
		require.NoError(t, err)
		begun := time.Now()
		a := post(t, srv.URL, "k", "1")
		assert.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
		assert.Less(t, time.Since(begun), 5*time.Second, "MaxWait, not the client's patience")
		require.NoError(t, held.Close())
		assert.Equal(t, http.StatusCreated, post(t, srv.URL, "k", "1").status)
		assert.Equal(t, 1, p.ledger())
	})
}

func TestSerializableTransactions(t *testing.T) {
	db := dialects[sqlstore.Postgres](t)
	p := newPayments(t, db)
	s, err := sqlstore.New(db, sqlstore.Options{TxOptions: &sql.TxOptions{Isolation: sql.LevelSerializable}})
	require.NoError(t, err)
	require.NoError(t, s.CreateTable(t.Context()))
	var level string
	p.hold = func(r *http.Request) {
		require.NoError(t, sqlstore.Tx(r.Context()).QueryRowContext(r.Context(), "SHOW transaction_isolation").Scan(&level))
	}
	srv := serve(t, s, p, idempotency.Options{})
	assert.Equal(t, http.StatusCreated, post(t, srv.URL, "k", "1").status)
	assert.Equal(t, "serializable", level)
	assert.Equal(t, "true", post(t, srv.URL, "k", "1").header.Get("Idempotent-Replayed"))
}
