package adaptive_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/internal/adaptive"
)

// Wait hands freed slots first come first served, and each way of giving
// up leaves the queue as it was.
func TestWait(t *testing.T) {
	one := adaptive.Options{InitialLimit: 1, MinLimit: 1, MaxLimit: 1}
	t.Run("first come, first served", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := adaptive.New(one)
			require.NoError(t, l.Wait(t.Context(), time.Time{}, 10)) // the one slot
			var mu sync.Mutex
			var order []int
			var wg sync.WaitGroup
			for i := range 3 {
				wg.Go(func() {
					require.NoError(t, l.Wait(t.Context(), time.Time{}, 10))
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					time.Sleep(time.Millisecond)
					l.Release(time.Millisecond, false)
				})
				synctest.Wait() // each queues before the next
			}
			assert.Equal(t, 3, l.Waiting())
			l.Release(time.Millisecond, false)
			wg.Wait()
			assert.Equal(t, []int{0, 1, 2}, order)
			assert.Zero(t, l.Waiting())
			assert.Zero(t, l.InFlight())
		})
	})
	t.Run("bound, time, context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := adaptive.New(one)
			require.NoError(t, l.Wait(t.Context(), time.Time{}, 1))
			assert.ErrorIs(t, l.Wait(t.Context(), time.Time{}, 0), adaptive.ErrQueueFull, "a bound of 0 lets none wait")
			start := time.Now()
			assert.ErrorIs(t, l.Wait(t.Context(), start.Add(time.Second), 1), adaptive.ErrTooLate)
			assert.Equal(t, time.Second, time.Since(start), "it waited until the time it was given")
			assert.ErrorIs(t, l.Wait(t.Context(), start, 1), adaptive.ErrTooLate, "a time already past: at once")
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			assert.ErrorIs(t, l.Wait(ctx, time.Time{}, 1), context.DeadlineExceeded)
			assert.Zero(t, l.Waiting(), "every one that gave up left the queue")
			assert.Equal(t, 1, l.InFlight())
			l.Discard()
			require.NoError(t, l.Wait(t.Context(), time.Time{}, 0), "a free slot needs no queue")
		})
	})
}
