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

// Reading the draft's fields allocates nothing, however many items and
// parameters of whatever type (issue 33, item 11: no map, no copy), but
// for the one joining of a field sent on several lines; those lines are
// bounded together, and only the first 32 items are read.
func TestReadingAQuotaAllocatesNothing(t *testing.T) {
	items := strings.Repeat(`"d";r=5;t=1;pk=:cHJvamVjdDEyMw==:;acme-x=?1;acme-y=1.5, `, 32)
	h := http.Header{"Ratelimit": {items + `"e";r=0;t=1`},
		"Ratelimit-Policy": {strings.Repeat(`"d";q=10;w=1;qu="requests";acme-z=tok, `, 40) + `"e";q=1`}}
	var q transport.Quota
	var ok bool
	allocs := testing.AllocsPerRun(10, func() { q, ok = transport.ParseQuota(h, time.Now()) })
	assert.Zero(t, allocs)
	assert.True(t, ok)
	assert.Equal(t, int64(5), q.Remaining, "the 33rd item is not read")
	assert.Equal(t, int64(10), q.Limit)

	lines := http.Header{"Ratelimit": {`"a";r=5;t=1`, `"b";r=2;t=1`}}
	allocs = testing.AllocsPerRun(10, func() { q, ok = transport.ParseQuota(lines, time.Now()) })
	assert.LessOrEqual(t, allocs, 1.0)
	assert.Equal(t, int64(2), q.Remaining)

	long := strings.Repeat(`"d";r=1;t=1, `, 3<<10/14)
	_, ok = transport.ParseQuota(http.Header{"Ratelimit": {long + `"a";r=1`, long + `"b";r=1`}}, time.Now())
	assert.False(t, ok, "two lines of 3 KiB are a field over 4 KiB")
}
