package pgtest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/idempotency/sqlstore/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKillRestartTerminate(t *testing.T) {
	s := pgtest.Start(t)
	db := s.CreateDB(t, "app")
	ctx := context.Background()
	_, err := db.ExecContext(ctx, "CREATE TABLE t (v int)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	require.NoError(t, err)

	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	n, err := s.Terminate("app", "")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1)
	assert.Error(t, conn.PingContext(ctx), "a terminated backend's connection is dead")
	_ = conn.Close()

	s.Kill()
	assert.Error(t, db.PingContext(ctx), "killed")
	require.NoError(t, s.Restart())
	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v), "what was committed survives a crash")
	assert.Equal(t, 1, v)
	db.SetMaxIdleConns(0)
	require.NoError(t, db.PingContext(ctx))
	require.Eventually(t, func() bool { n, err := s.Conns("app"); return err == nil && n == 0 }, 5e9, 1e7)
}
