package transport_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

// A RateLimit field far larger than any quota needs is malformed and read
// no further (issue 33, item 9: one 8 MiB field made a GET allocate 617 MiB,
// a map per item). A field of a few quotas is still read.
func TestAHugeQuotaFieldIsIgnored(t *testing.T) {
	huge := http.Header{"Ratelimit": {strings.Repeat(`"d";r=1;t=1,`, 8<<20/12)}}
	var ok bool
	allocs := testing.AllocsPerRun(1, func() { _, ok = transport.ParseQuota(huge, time.Now()) })
	assert.False(t, ok)
	assert.LessOrEqual(t, allocs, 4.0, "nothing read of it")
	q, ok := transport.ParseQuota(http.Header{"Ratelimit": {`"a";r=5;t=10, "b";r=2;t=30`}}, time.Now())
	assert.True(t, ok)
	assert.Equal(t, int64(2), q.Remaining)
}
