package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
	"github.com/rtchain/rtchain/idempotency/storetest"
)

func TestContract(t *testing.T) {
	each(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		s := newStore(t, open(t))
		storetest.Run(t, func(*testing.T) idempotency.Store { return s })
	})
}

func TestNewChecksItsInput(t *testing.T) {
	db := dialects[sqlstore.SQLite](t)
	for _, o := range []sqlstore.Options{
		{Table: "keys; DROP TABLE x"}, {Table: "a.b.c"}, {Table: "1abc"}, {Dialect: "oracle"}, {MaxWait: -1},
	} {
		_, err := sqlstore.New(db, o)
		assert.Error(t, err, "%+v", o)
	}
	_, err := sqlstore.New(nil, sqlstore.Options{})
	assert.Error(t, err)
	s, err := sqlstore.New(db, sqlstore.Options{Table: "billing_keys"})
	require.NoError(t, err)
	assert.Contains(t, s.DDL()[0], "CREATE TABLE IF NOT EXISTS billing_keys")
}

func TestSchemaQualifiedTable(t *testing.T) {
	db := dialects[sqlstore.Postgres](t)
	_, err := db.Exec("CREATE SCHEMA billing")
	require.NoError(t, err)
	s, err := sqlstore.New(db, sqlstore.Options{Table: "billing.idempotency_keys"})
	require.NoError(t, err)
	require.NoError(t, s.CreateTable(context.Background()))
	require.NoError(t, s.CreateTable(context.Background()), "twice: if missing")
	_, acquired, err := s.Begin(context.Background(), "k", idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Minute)
	require.NoError(t, err)
	assert.True(t, acquired)
}

func TestDeleteExpired(t *testing.T) {
	each(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		s := newStore(t, db)
		ctx := context.Background()
		for _, k := range []string{"a", "b", "c"} {
			_, _, err := s.Begin(ctx, k, idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Millisecond)
			require.NoError(t, err)
		}
		_, _, err := s.Begin(ctx, "live", idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Minute)
		require.NoError(t, err)
		// All three leases must have run out before the first batch, or it
		// may find fewer than the limit (the database's clock is this
		// machine's, in milliseconds).
		var last int64
		require.NoError(t, db.QueryRow("SELECT max(expires_at) FROM "+sqlstore.DefaultTable+
			" WHERE ikey IN ('a', 'b', 'c')").Scan(&last))
		require.Eventually(t, func() bool { return time.Now().UnixMilli() > last+1 }, 5*time.Second, time.Millisecond)
		require.Eventually(t, func() bool {
			n, err := s.DeleteExpired(ctx, 2)
			return err == nil && n == 2
		}, 5*time.Second, 10*time.Millisecond, "a batch is at most the limit")
		n, err := s.DeleteExpired(ctx, 100)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		var left int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM "+sqlstore.DefaultTable).Scan(&left))
		assert.Equal(t, 1, left, "the live record stays")
	})
}

func TestCorruptRecordIsAnError(t *testing.T) {
	each(t, func(t *testing.T, open func(testing.TB) *sql.DB) {
		db := open(t)
		s := newStore(t, db)
		ctx := context.Background()
		_, _, err := s.Begin(ctx, "k", idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.Complete(ctx, "k", "o", &idempotency.Response{Status: 200, Header: map[string][]string{"A": {"b"}}}, time.Minute))
		q := "UPDATE idempotency_keys SET header = 'not json'"
		_, err = db.Exec(q)
		require.NoError(t, err)
		_, _, err = s.Begin(ctx, "k", idempotency.Record{Owner: "o2", Fingerprint: "f"}, time.Minute)
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), "stored header"), err.Error())
		assert.False(t, errors.Is(err, idempotency.ErrLeaseLost))
	})
}
