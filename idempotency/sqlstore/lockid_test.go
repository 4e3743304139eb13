package sqlstore_test

import (
	"context"
	"hash/fnv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore"
)

// Two keys whose advisory locks collided under the FNV-1a hash the store
// used to take them with: found by a cycle search over 16-hex-digit keys
// (a birthday collision, 2^32 work; FNV also yields to a second preimage,
// which crafts a key against another's). Each is taken on its own now.
func TestCraftedKeysDoNotShareALock(t *testing.T) {
	const a, b = "0::6d12ea573ecfbed9", "0::40107820457a364f" // as Middleware names them for an anonymous scope
	fnvOf := func(key string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(sqlstore.DefaultTable + "\x00" + key))
		return h.Sum64()
	}
	require.Equal(t, fnvOf(a), fnvOf(b), "the pair collides under FNV-1a")

	s := newStore(t, dialects[sqlstore.Postgres](t))
	ctx := context.Background()
	_, first, err := s.BeginTx(ctx, a, idempotency.Record{Owner: "o1", Fingerprint: "f"}, time.Minute)
	require.NoError(t, err)
	require.NotNil(t, first)
	t.Cleanup(func() { _ = first.Rollback(ctx) })
	existing, second, err := s.BeginTx(ctx, b, idempotency.Record{Owner: "o2", Fingerprint: "f"}, time.Minute)
	require.NoError(t, err)
	assert.NotNil(t, second, "the other key is taken, not answered in progress (%+v)", existing)
	if second != nil {
		_ = second.Rollback(ctx)
	}
}
