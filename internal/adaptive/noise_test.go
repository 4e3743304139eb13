package adaptive_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/internal/adaptive"
)

// closedLoop runs callers for d, each taking a slot, holding it for the
// latency lat draws, and giving it back; one refused waits 20 ms. It returns
// the work done and refused after the first fifth of d, and the least limit
// seen then.
func closedLoop(l *adaptive.Limit, callers int, d time.Duration, lat func(*rand.Rand) time.Duration) (done, refused, least int) {
	var mu sync.Mutex
	least = 1 << 30
	start := time.Now()
	warm, stop := start.Add(d/5), start.Add(d)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for time.Now().Before(stop) {
				if !l.Acquire() {
					mu.Lock()
					if time.Now().After(warm) {
						refused++
					}
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				begin := time.Now()
				time.Sleep(lat(r))
				l.Release(time.Since(begin), false)
				mu.Lock()
				if time.Now().After(warm) {
					done++
					least = min(least, l.Limit())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return done, refused, least
}

// Latency that varies from one piece of work to the next, with nothing
// queued, is no queue: the limit lets every caller in. (The lowest mean of
// small windows, taken for the floor, held it at 1 to 6 with 100 callers,
// refusing 99.8% of them.)
func TestNoisyLatencyIsNotAQueue(t *testing.T) {
	for name, lat := range map[string]func(*rand.Rand) time.Duration{
		"exponential around 200 ms": func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(200*time.Millisecond))
		},
		"uniform 10 to 390 ms": func(r *rand.Rand) time.Duration {
			return 10*time.Millisecond + time.Duration(r.IntN(380))*time.Millisecond
		},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := adaptive.New(adaptive.Options{})
				done, refused, least := closedLoop(l, 100, time.Minute, lat)
				t.Logf("%d done, %d refused, least limit %d", done, refused, least)
				assert.GreaterOrEqual(t, least, 100, "every caller let in")
				assert.Zero(t, refused)
			})
		})
	}
}

// A queue behind a fixed number of workers is still found, from a start
// into a crowd: the limit falls toward the 4 the server can do. (It takes
// seconds: a full queue hides the floor, which probes find by halving what
// is in flight; 7 to 22 in the 8th second over 20 runs.)
func TestAStartIntoACrowdFindsTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := adaptive.New(adaptive.Options{InitialLimit: 100})
		workers := make(chan struct{}, 4)
		var wg sync.WaitGroup
		stop := time.Now().Add(8 * time.Second)
		for range 100 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					if !l.Acquire() {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					begin := time.Now()
					workers <- struct{}{}
					time.Sleep(10 * time.Millisecond)
					<-workers
					l.Release(time.Since(begin), false)
				}
			})
		}
		time.Sleep(7 * time.Second)
		most := 0
		for range 10 {
			time.Sleep(100 * time.Millisecond)
			most = max(most, l.Limit())
		}
		wg.Wait()
		assert.LessOrEqual(t, most, 32, "a queue of 4 workers: in its 8th second, the limit has fallen from 100 to a few times 4")
		assert.GreaterOrEqual(t, most, 4)
	})
}
