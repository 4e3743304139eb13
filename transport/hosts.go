package transport

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// hostTable maps a URL host (case-insensitively) to per-host state, created
// on demand, read without locks, and bounded: past max hosts, an idle state
// (one whose loss forgets nothing that matters) is dropped, or any one if
// none is idle. Budget, RateLimit and Breaker each keep one.
type hostTable[T any] struct {
	m        sync.Map // host → *T
	n        atomic.Int64
	max      int
	newState func() *T
	idle     func(*T) bool
}

func newHostTable[T any](max int, newState func() *T, idle func(*T) bool) *hostTable[T] {
	return &hostTable[T]{max: max, newState: newState, idle: idle}
}

func (h *hostTable[T]) get(host string) *T {
	if v, ok := h.m.Load(host); ok {
		return v.(*T)
	}
	if lower := strings.ToLower(host); lower != host {
		host = lower
		if v, ok := h.m.Load(host); ok {
			return v.(*T)
		}
	}
	v, loaded := h.m.LoadOrStore(host, h.newState())
	if !loaded && h.n.Add(1) > int64(h.max) {
		h.evict(host)
	}
	return v.(*T)
}

func (h *hostTable[T]) evict(keep string) {
	var victim any
	h.m.Range(func(k, v any) bool {
		if k == keep {
			return true
		}
		victim = k
		return h.idle != nil && !h.idle(v.(*T)) // stop at the first idle one
	})
	if victim != nil {
		h.m.Delete(victim)
		h.n.Add(-1)
	}
}

// len returns how many hosts the table holds.
func (h *hostTable[T]) len() int { return int(h.n.Load()) }

func hostOf(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.Host
}
