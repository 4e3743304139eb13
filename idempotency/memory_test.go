package idempotency_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// A full store drops expired records first, and refuses a new key rather
// than forget a live one.
func TestMemoryStoreBounds(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemoryStore(3, 0)
	begin := func(k string, lease time.Duration) error {
		_, _, err := s.Begin(ctx, k, idempotency.Record{Owner: "o", Fingerprint: "f"}, lease)
		return err
	}
	require.NoError(t, begin("short", time.Millisecond))
	require.NoError(t, begin("a", time.Hour))
	require.NoError(t, begin("b", time.Hour))
	require.Eventually(t, func() bool { return begin("c", time.Hour) == nil }, 5*time.Second, time.Millisecond,
		"the expired record makes room")
	assert.Equal(t, 3, s.Len())
	assert.ErrorIs(t, begin("d", time.Hour), idempotency.ErrStoreFull)

	small := idempotency.NewMemoryStore(0, 1000)
	require.NoError(t, func() error {
		_, _, err := small.Begin(ctx, "k", idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Hour)
		return err
	}())
	require.NoError(t, small.Complete(ctx, "k", "o", &idempotency.Response{Status: 200, Body: make([]byte, 900)}, time.Hour))
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, _, err = small.Begin(ctx, "k"+strconv.Itoa(i), idempotency.Record{Owner: "o", Fingerprint: "f"}, time.Hour)
	}
	assert.True(t, errors.Is(err, idempotency.ErrStoreFull), "bytes are bounded too: %v", err)
}
