package transport_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

// One answer announcing a quota whose reset is 3,000 years away paces the
// host no longer than MaxCoolDown once the server stops announcing it
// (issue 33, item 10: 10 calls took 18 s with MaxCoolDown 1 s).
func TestAnAnnouncedQuotaHoldsNoLongerThanMaxCoolDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var announce atomic.Bool
		announce.Store(true)
		base := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) {
			if announce.Swap(false) { // once
				return answer(200, "RateLimit", `"d";r=1;t=94608000000`, "RateLimit-Policy", `"d";q=10;w=94608000000`)(), nil
			}
			return answer(200)(), nil
		})
		rt := transport.Chain(base, transport.RateLimit(transport.RateLimitOptions{MaxCoolDown: time.Second}))
		_, _ = statusOf(t, rt, "http://a.test/")
		took, _ := pacedCalls(t, context.Background(), rt, 1, 10)
		assert.LessOrEqual(t, took, 2*time.Second, "paced at most MaxCoolDown past the one announcement")
	})
}
