package adaptive_test

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/internal/adaptive"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// drive keeps l full, as a crowd of callers would, for steps completions:
// it takes every slot the limit gives, then completes the oldest piece of
// work with the latency latency returns for what is in flight. It returns
// the limits seen after each completion.
func drive(l *adaptive.Limit, steps int, latency func(inFlight int) time.Duration) []int {
	limits := make([]int, 0, steps)
	for range steps {
		for l.Acquire() {
		}
		l.Release(latency(l.InFlight()), false)
		limits = append(limits, l.Limit())
	}
	return limits
}

// server is the latency of a server that does workers things at once, each
// taking service: what is in flight past its workers queues.
func server(workers int, service time.Duration) func(int) time.Duration {
	return func(inFlight int) time.Duration {
		if inFlight <= workers {
			return service
		}
		return service * time.Duration(inFlight) / time.Duration(workers)
	}
}

func TestLimitFollowsLatency(t *testing.T) {
	t.Run("grows while latency is flat", func(t *testing.T) {
		l := adaptive.New(adaptive.Options{})
		limits := drive(l, 20000, func(int) time.Duration { return 10 * time.Millisecond })
		assert.Greater(t, slices.Max(limits[len(limits)-2000:]), 800, "flat latency: the limit climbs toward MaxLimit")
		assert.Equal(t, adaptive.DefaultMaxLimit, slices.Max(drive(l, 20000, func(int) time.Duration { return 10 * time.Millisecond })))
	})
	t.Run("falls when latency rises", func(t *testing.T) {
		l := adaptive.New(adaptive.Options{InitialLimit: 100})
		drive(l, 300, func(int) time.Duration { return 10 * time.Millisecond })
		before := l.Limit()
		limits := drive(l, 600, func(int) time.Duration { return 40 * time.Millisecond })
		assert.Less(t, slices.Min(limits), before/4, "4× the floor: cut toward 1.25× it")
	})
	t.Run("holds when nothing uses it", func(t *testing.T) {
		l := adaptive.New(adaptive.Options{})
		for range 1000 { // one piece of work at a time
			require.True(t, l.Acquire())
			l.Release(10*time.Millisecond, false)
		}
		assert.Equal(t, adaptive.DefaultInitialLimit, l.Limit(), "a limit never reached is not evidence that more is fine")
	})
	t.Run("a drop cuts", func(t *testing.T) {
		l := adaptive.New(adaptive.Options{InitialLimit: 100})
		drive(l, 99, func(int) time.Duration { return 10 * time.Millisecond })
		before := l.Limit()
		require.True(t, l.Acquire() || true)
		for range 100 {
			for l.Acquire() {
			}
			l.Release(10*time.Millisecond, true)
		}
		assert.Less(t, l.Limit(), before)
	})
}

// A server that can do 4 things at a time: the limit settles near 4 to 8,
// whether it starts at its default of 20 (a start into a crowd: its floor
// is first seen with a queue, and a probe finds the true one) or at 1.
func TestLimitFindsServerCapacity(t *testing.T) {
	for _, initial := range []int{1, 20, 200} {
		t.Run("from "+strconv.Itoa(initial), func(t *testing.T) {
			l := adaptive.New(adaptive.Options{InitialLimit: initial, MaxLimit: 200})
			limits := drive(l, 20000, server(4, 10*time.Millisecond))
			last := limits[len(limits)-2000:]
			sum := 0
			for _, v := range last {
				sum += v
			}
			mean := float64(sum) / float64(len(last))
			t.Logf("from %d: the mean limit of the last 2000 completions %.1f, latency %v", initial, mean, l.Latency())
			assert.GreaterOrEqual(t, mean, 3.5, "the workers kept busy")
			assert.LessOrEqual(t, mean, 8.0, "no more than 2× the workers' latency")
		})
	}
}

func TestLimitBounds(t *testing.T) {
	l := adaptive.New(adaptive.Options{InitialLimit: 3, MinLimit: 2, MaxLimit: 5})
	limits := drive(l, 2000, func(int) time.Duration { return time.Millisecond })
	assert.Equal(t, 5, slices.Max(limits[1000:]), "flat: up to MaxLimit")
	limits = drive(l, 2000, func(n int) time.Duration {
		if n > 2 {
			return time.Second
		}
		return time.Millisecond
	})
	assert.LessOrEqual(t, slices.Max(limits[1000:]), 3, "1000× the floor past 2 in flight: back to 2 after each step up")
	assert.Equal(t, 2, slices.Min(limits), "never below MinLimit")

	t.Run("AcquireBelow passes the limit, Discard teaches nothing", func(t *testing.T) {
		l := adaptive.New(adaptive.Options{InitialLimit: 1})
		require.True(t, l.Acquire())
		assert.False(t, l.Acquire())
		assert.True(t, l.AcquireBelow(3))
		assert.False(t, l.AcquireBelow(2))
		assert.Equal(t, 2, l.InFlight())
		l.Discard()
		l.Discard()
		assert.Equal(t, 0, l.InFlight())
		assert.Zero(t, l.Latency())
	})
}

func TestNewPanics(t *testing.T) {
	for name, o := range map[string]adaptive.Options{
		"negative":         {MinLimit: -1},
		"min over max":     {MinLimit: 10, MaxLimit: 5},
		"initial outside":  {InitialLimit: 50, MaxLimit: 10},
		"tolerance 1":      {Tolerance: 1},
		"tolerance below1": {Tolerance: 0.5},
	} {
		t.Run(name, func(t *testing.T) {
			assert.PanicsWithValue(t, panicOf(func() { adaptive.New(o) }), func() { adaptive.New(o) })
			assert.Contains(t, panicOf(func() { adaptive.New(o) }), "adaptive: Options: ")
		})
	}
}

func panicOf(f func()) (msg string) {
	defer func() { msg, _ = recover().(string) }()
	f()
	return ""
}

// Under the race detector: slots are never lost, whatever the interleaving.
func TestLimitConcurrent(t *testing.T) {
	l := adaptive.New(adaptive.Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				if l.Acquire() {
					assert.LessOrEqual(t, l.InFlight(), adaptive.DefaultMaxLimit)
					l.Release(time.Duration(1+(g+i)%5)*time.Millisecond, i%97 == 0)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 0, l.InFlight())
	assert.GreaterOrEqual(t, l.Limit(), adaptive.DefaultMinLimit)
}

func TestLimitDoesNotAllocate(t *testing.T) {
	l := adaptive.New(adaptive.Options{})
	allocs := testing.AllocsPerRun(1000, func() {
		if l.Acquire() {
			l.Release(time.Millisecond, false)
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkLimit(b *testing.B) {
	l := adaptive.New(adaptive.Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.Acquire() {
				l.Release(time.Millisecond, false)
			}
		}
	})
}
