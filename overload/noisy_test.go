package overload_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/overload"
)

// A healthy handler whose latency varies widely from request to request
// (exponential, around 200 ms), with nothing queued, is not overloaded:
// Middleware's zero Options let 100 callers in. Its limit used to take the
// spread for a queue and refuse 99.8% of them.
func TestAHandlerOfNoisyLatencyIsNotShed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		r := rand.New(rand.NewPCG(1, 2))
		h := overload.Middleware(overload.Options{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			mu.Lock()
			d := time.Duration(r.ExpFloat64() * float64(200*time.Millisecond))
			mu.Unlock()
			time.Sleep(d)
		}))
		ctx, stop := context.WithTimeout(t.Context(), time.Minute)
		defer stop()
		warm, end := time.Now().Add(10*time.Second), time.Now().Add(59*time.Second)
		var served, shed atomic.Int64
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				for ctx.Err() == nil {
					code := <-call(h, ctx, "/")
					switch {
					case time.Now().Before(warm) || time.Now().After(end): // warming up, or cut by the test's end
					case code == http.StatusOK:
						served.Add(1)
					case code == http.StatusServiceUnavailable:
						shed.Add(1)

					}
					if code == http.StatusServiceUnavailable {
						time.Sleep(20 * time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		t.Logf("%d served, %d shed", served.Load(), shed.Load())
		assert.Greater(t, served.Load(), int64(20000), "100 callers of 200 ms for 50 s")
		assert.Less(t, float64(shed.Load()), 0.001*float64(served.Load()+shed.Load()), "at most 0.1% shed")
	})
}
