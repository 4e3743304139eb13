package transport

import (
	"hash/maphash"
	"net/http"
)

// HostCount returns how many hosts a RateLimit transport keeps state for.
func HostCount(rt http.RoundTripper) int {
	return rt.(*rateTransport).hosts.len()
}

// HostTable is the per-host table over ints, for tests.
type HostTable struct{ t *hostTable[int] }

// NewHostTable returns a table of at most max hosts; idle, when set, says
// which states may be dropped first.
func NewHostTable(max int, idle func(*int) bool) HostTable {
	return HostTable{newHostTable(max, idle)}
}

// Get returns host's state, creating it if needed.
func (h HostTable) Get(host string) *int { return h.t.get(host) }

// Has reports whether the table holds host, without using it.
func (h HostTable) Has(host string) bool {
	return h.t.find(host, maphash.String(h.t.seed, host)) != nil
}

// Len returns how many hosts the table holds.
func (h HostTable) Len() int { return h.t.len() }

// BreakerMinRequests is BreakerOptions.MinRequests' default.
const BreakerMinRequests = defaultBreakerMinRequests
