package transport

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultMaxHosts bounds how many hosts each middleware keeps state for
// (RetryBudget.MaxHosts, BreakerOptions.MaxHosts, RateLimitOptions.MaxHosts)
// when its options say 0. A host's state takes a few hundred bytes at most.
const DefaultMaxHosts = 16384

// hostTable maps a URL host (case-insensitively) to per-host state, created
// on demand and read without locks. It is bounded: past max hosts, a new
// host takes the place of the least recently used one, found by the CLOCK
// algorithm (a host used since the hand last passed it gets a second
// chance), preferring one whose state is idle (its loss forgets nothing
// that matters: a closed circuit, a cool-down that is over). Budget,
// RateLimit and Breaker each keep one.
type hostTable[T any] struct {
	m    sync.Map                     // host → *hostEntry[T]
	last atomic.Pointer[hostEntry[T]] // the latest host added: most clients call one host
	max  int
	idle func(*T) bool

	mu   sync.Mutex // guards ring and hand
	ring []ringSlot[T]
	hand int
}

type hostEntry[T any] struct {
	host  string      // the key, lower-cased
	used  atomic.Bool // set on each use, cleared as the clock hand passes
	state T
}

type ringSlot[T any] struct {
	host string
	e    *hostEntry[T]
}

func newHostTable[T any](max int, idle func(*T) bool) *hostTable[T] {
	return &hostTable[T]{max: max, idle: idle}
}

// get returns host's state, creating it if needed. The common case, a host
// already in the table, takes no lock and allocates nothing.
func (h *hostTable[T]) get(host string) *T {
	if e := h.last.Load(); e != nil && e.host == host {
		return e.touch()
	}
	if v, ok := h.m.Load(host); ok {
		return h.hit(v)
	}
	if lower := strings.ToLower(host); lower != host {
		host = lower
		if v, ok := h.m.Load(host); ok {
			return h.hit(v)
		}
	}
	// A new host starts unmarked: it sits just behind the clock hand, so it
	// is the last the hand reaches, and a use before then marks it.
	e := &hostEntry[T]{host: host}
	if v, loaded := h.m.LoadOrStore(host, e); loaded {
		return h.hit(v)
	}
	h.last.Store(e)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ring) < h.max {
		h.ring = append(h.ring, ringSlot[T]{host, e})
		return &e.state
	}
	i := h.victim()
	h.m.CompareAndDelete(h.ring[i].host, h.ring[i].e)
	h.last.CompareAndSwap(h.ring[i].e, nil)
	h.ring[i] = ringSlot[T]{host, e}
	return &e.state
}

// hit returns the state of v, an entry found in the map. It becomes the
// latest only when there is none: a client that calls many hosts would
// otherwise write the shared pointer on every call.
func (h *hostTable[T]) hit(v any) *T {
	e := v.(*hostEntry[T])
	if h.last.Load() == nil {
		h.last.CompareAndSwap(nil, e)
	}
	return e.touch()
}

// touch marks e used, writing only when the mark is not already there, so
// that hosts read by many goroutines do not bounce a cache line.
func (e *hostEntry[T]) touch() *T {
	if !e.used.Load() {
		e.used.Store(true)
	}
	return &e.state
}

// victim moves the clock hand to the slot to reuse: the first one not used
// since the hand last passed and idle, or, after two turns without such a
// slot, the first one not used. h.mu is held; the ring is full.
func (h *hostTable[T]) victim() int {
	fallback := -1
	for range 2 * len(h.ring) {
		i := h.hand
		h.hand = (h.hand + 1) % len(h.ring)
		e := h.ring[i].e
		if e.used.Load() {
			e.used.Store(false)
			continue
		}
		if h.idle == nil || h.idle(&e.state) {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	if fallback < 0 { // every host in use on each turn: take the hand's
		fallback = h.hand
	}
	return fallback
}

// len returns how many hosts the table holds.
func (h *hostTable[T]) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ring)
}

// each calls f with each host the table holds and its state, outside the
// table's lock: the hosts are those of the moment f is first called.
func (h *hostTable[T]) each(f func(host string, v *T)) {
	h.mu.Lock()
	ring := make([]ringSlot[T], len(h.ring))
	copy(ring, h.ring)
	h.mu.Unlock()
	for _, s := range ring {
		f(s.host, &s.e.state)
	}
}

func hostOf(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.Host
}

// slot is one layer's state of a host, set up once, by the first get.
type slot[T any] struct {
	ready atomic.Bool
	mu    sync.Mutex // held while the slot is set up
	v     T
}

func (s *slot[T]) get(init func(*T)) *T {
	if !s.ready.Load() {
		s.mu.Lock()
		if !s.ready.Load() {
			if init != nil {
				init(&s.v)
			}
			s.ready.Store(true)
		}
		s.mu.Unlock()
	}
	return &s.v
}

// idler is a layer's state of a host that can tell whether forgetting it
// loses anything that matters (a closed circuit, a cool-down that is over):
// the host tables prefer to evict idle hosts.
type idler[T any] interface {
	*T
	idle() bool
}

// hostView is one layer's view of a table of hosts: its own slot of each
// host's entry, in a table of the layer's own (ownHosts) or in one that a
// chain shares between its layers (NewClientWith's). The zero value has no
// table: a layer given one makes its own.
type hostView[T any] struct {
	lookup func(host string) *slot[T]
	size   func() int
	init   func(*T) // sets up a host's state; nil for the zero value
}

// ownHosts returns a view of a table of up to max hosts of one layer's
// state alone.
func ownHosts[T any, P idler[T]](max int) hostView[T] {
	t := newHostTable(max, func(s *slot[T]) bool { return !s.ready.Load() || P(&s.v).idle() })
	return hostView[T]{lookup: t.get, size: t.len}
}

// get returns host's state, creating the entry or the slot if need be.
func (v hostView[T]) get(host string) *T { return v.lookup(host).get(v.init) }

// len returns how many hosts the table holds.
func (v hostView[T]) len() int { return v.size() }
