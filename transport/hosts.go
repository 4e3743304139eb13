package transport

import (
	"hash/maphash"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultMaxHosts bounds how many hosts each middleware keeps state for
// (RetryBudget.MaxHosts, BreakerOptions.MaxHosts, RateLimitOptions.MaxHosts)
// when its options say 0. In NewClient's chain, a host's state takes 256
// bytes while the host never throttled, refused nor failed, and about 3 KB
// at most once it did.
const DefaultMaxHosts = 16384

// hostTable maps a URL host (case-insensitively) to per-host state, created
// on demand and read without locks. It is bounded: past max hosts, a new
// host takes the place of the least recently used one, found by the CLOCK
// algorithm (a host used since the hand last passed it gets a second
// chance), preferring one whose state is idle (its loss forgets nothing
// that matters: a closed circuit, a cool-down that is over). A chain built
// by NewClientWith keeps one for its layers; a layer built alone, its own.
//
// The index is a hash table of its own rather than a sync.Map, so that a
// new host costs one allocation, its entry: a sync.Map also boxes the key
// and makes a node (three allocations a host, which a client calling many
// hosts pays on every call once they pass max). Readers walk a bucket's
// chain without a lock; every change is made under mu, and a reader that a
// change made miss an entry finds it again under mu before adding one.
type hostTable[T any] struct {
	index atomic.Pointer[hostIndex[T]]
	last  atomic.Pointer[hostEntry[T]] // the latest host added: most clients call one host
	seed  maphash.Seed
	max   int
	idle  func(*T) bool

	mu   sync.Mutex // guards ring, hand and every change of the index
	ring []*hostEntry[T]
	hand int
}

// hostIndex is the hash table of a hostTable: a power of two of buckets,
// each a chain of entries, newest first.
type hostIndex[T any] struct {
	buckets []atomic.Pointer[hostEntry[T]]
	mask    uint64
}

type hostEntry[T any] struct {
	host  string                       // the key, lower-cased unless given so
	hash  uint64                       // of host
	next  atomic.Pointer[hostEntry[T]] // in its bucket
	used  atomic.Bool                  // set on each use, cleared as the clock hand passes
	state T
}

func newHostTable[T any](max int, idle func(*T) bool) *hostTable[T] {
	return &hostTable[T]{max: max, idle: idle, seed: maphash.MakeSeed()}
}

// get returns host's state, creating it if needed. The common case, a host
// already in the table, takes no lock and allocates nothing.
func (h *hostTable[T]) get(host string) *T {
	if e := h.last.Load(); e != nil && e.host == host {
		return e.touch()
	}
	hash := maphash.String(h.seed, host)
	if e := h.find(host, hash); e != nil {
		return h.hit(e)
	}
	if lower := strings.ToLower(host); lower != host {
		host, hash = lower, maphash.String(h.seed, lower)
		if e := h.find(host, hash); e != nil {
			return h.hit(e)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.find(host, hash); e != nil { // added meanwhile, or missed while the index grew
		return h.hit(e)
	}
	// A new host starts unmarked: it sits just behind the clock hand, so it
	// is the last the hand reaches, and a use before then marks it.
	e := &hostEntry[T]{host: host, hash: hash}
	if len(h.ring) < h.max {
		h.ring = append(h.ring, e)
	} else {
		i := h.victim()
		h.unlink(h.ring[i])
		h.last.CompareAndSwap(h.ring[i], nil)
		h.ring[i] = e
	}
	h.link(e)
	h.last.Store(e)
	return &e.state
}

// find returns the entry of host, whose hash is hash, or nil when the
// index has none (or a change under way hid it: get looks again under mu).
func (h *hostTable[T]) find(host string, hash uint64) *hostEntry[T] {
	ix := h.index.Load()
	if ix == nil {
		return nil
	}
	for e := ix.buckets[hash&ix.mask].Load(); e != nil; e = e.next.Load() {
		if e.hash == hash && e.host == host {
			return e
		}
	}
	return nil
}

// link adds e, already in the ring, to the index, which first doubles
// when the ring has outgrown half of it: with twice as many buckets as
// hosts, a bucket holds one entry or none, mostly, and a lookup (or a
// victim's unlink) reads few entries, each likely a cache miss in a table
// of many hosts. h.mu is held.
func (h *hostTable[T]) link(e *hostEntry[T]) {
	ix := h.index.Load()
	if ix == nil || 2*len(h.ring) > len(ix.buckets) {
		n := 16
		for n < 2*len(h.ring) {
			n *= 2
		}
		if ix != nil {
			n = max(n, 2*len(ix.buckets))
		}
		grown := &hostIndex[T]{buckets: make([]atomic.Pointer[hostEntry[T]], n), mask: uint64(n - 1)}
		for _, r := range h.ring { // e among them
			b := &grown.buckets[r.hash&grown.mask]
			r.next.Store(b.Load())
			b.Store(r)
		}
		h.index.Store(grown)
		return
	}
	b := &ix.buckets[e.hash&ix.mask]
	e.next.Store(b.Load())
	b.Store(e)
}

// unlink removes e from the index. Its own next is left as it is, for the
// readers that stand on it. h.mu is held.
func (h *hostTable[T]) unlink(e *hostEntry[T]) {
	ix := h.index.Load()
	b := &ix.buckets[e.hash&ix.mask]
	if b.Load() == e {
		b.Store(e.next.Load())
		return
	}
	for p := b.Load(); p != nil; p = p.next.Load() {
		if p.next.Load() == e {
			p.next.Store(e.next.Load())
			return
		}
	}
}

// hit returns the state of e, an entry found in the index. It becomes the
// latest only when there is none: a client that calls many hosts would
// otherwise write the shared pointer on every call.
func (h *hostTable[T]) hit(e *hostEntry[T]) *T {
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
		e := h.ring[i]
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
	ring := slices.Clone(h.ring)
	h.mu.Unlock()
	for _, e := range ring {
		f(e.host, &e.state)
	}
}

func hostOf(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.Host
}

// slot is one layer's state of a host, set up once, by the first get. A
// layer's init is a few stores, so a get that finds another one setting the
// slot up yields until it is done, rather than keeping a mutex in every
// entry for a race that a new host alone can meet.
type slot[T any] struct {
	state atomic.Uint32 // slotEmpty, slotInit or slotReady
	v     T
}

const (
	slotEmpty uint32 = iota
	slotInit
	slotReady
)

func (s *slot[T]) get(init func(*T)) *T {
	if s.state.Load() != slotReady {
		s.setUp(init)
	}
	return &s.v
}

func (s *slot[T]) setUp(init func(*T)) {
	if s.state.CompareAndSwap(slotEmpty, slotInit) {
		if init != nil {
			init(&s.v)
		}
		s.state.Store(slotReady)
		return
	}
	for s.state.Load() != slotReady {
		runtime.Gosched()
	}
}

// ready reports whether the slot was set up.
func (s *slot[T]) ready() bool { return s.state.Load() == slotReady }

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
	// For a table that a chain shares (nil for a layer's own): the table,
	// a host's entry in it, and the layer's slot of an entry.
	table any
	ref   func(host string) hostRef
	in    func(hostRef) *slot[T]
}

// ownHosts returns a view of a table of up to max hosts of one layer's
// state alone.
func ownHosts[T any, P idler[T]](max int) hostView[T] {
	t := newHostTable(max, func(s *slot[T]) bool { return !s.ready() || P(&s.v).idle() })
	return hostView[T]{lookup: t.get, size: t.len}
}

// get returns host's state, creating the entry or the slot if need be.
func (v hostView[T]) get(host string) *T { return v.lookup(host).get(v.init) }

// len returns how many hosts the table holds.
func (v hostView[T]) len() int { return v.size() }

// One lookup per call. The layers of NewClientWith's chain that keep state
// per host (Retry's budget, Breaker, RateLimit) share one table, and the
// first of them to handle a call looks its host up once: each hands the
// entry to the next one down, when that one keeps its state in the same
// table, by calling its roundTripEntry in place of RoundTrip. A layer
// between them (Limit, a middleware of the caller's) breaks the hand-down,
// and the layer below it looks the host up again, as a layer built alone
// always does. Each retry looks the host up again (a long wait may have
// seen its entry make way for another host's), and an attempt to another
// host (RetryPolicy.Hosts) is handed none.

// hostRef is a host's entry in a chain's shared table, as the layers see
// it: opaque, each reaching its own state in it through its hostView.
type hostRef = any

// entryTaker is a layer that takes a call's entry from the layer above.
type entryTaker interface {
	// roundTripEntry is RoundTrip for a request to the host whose entry is
	// r; a nil r means the layer looks the host up itself.
	roundTripEntry(req *http.Request, r hostRef) (*http.Response, error)
	// sharedTable returns the chain's table that the layer keeps its state
	// in, or nil for a table of its own.
	sharedTable() any
}

// takerBelow returns next as an entryTaker, if it is one that keeps its
// state in table (not nil); nil otherwise.
func takerBelow(next http.RoundTripper, table any) entryTaker {
	if et, ok := next.(entryTaker); ok && table != nil && et.sharedTable() == table {
		return et
	}
	return nil
}

// passDown sends req to next, handing it r, the entry of req's host, when
// next takes entries (below, not nil).
func passDown(next http.RoundTripper, below entryTaker, req *http.Request, r hostRef) (*http.Response, error) {
	if below != nil && r != nil {
		return below.roundTripEntry(req, r)
	}
	return next.RoundTrip(req)
}

// at returns host's state, from r when it is not nil: the entry of host in
// the shared table, which a layer above looked up.
func (v hostView[T]) at(host string, r hostRef) *T {
	if r != nil {
		return v.in(r).get(v.init)
	}
	return v.get(host)
}

// entry returns r, or when it is nil and a layer below takes entries,
// host's entry in the shared table, so that the host is looked up once for
// both.
func (v hostView[T]) entry(host string, r hostRef, below entryTaker) hostRef {
	if r == nil && below != nil {
		return v.ref(host)
	}
	return r
}

// lazy is a part of a host's state that only a host that throttles,
// refuses or runs out of budget needs (a pacer's curve, a scope's marks, an
// acceptance count): it is allocated on its first use, so that the entry of
// a host that never does holds a pointer in its place. A client that calls
// many hosts then allocates a small entry for each new one.
type lazy[T any] struct{ p atomic.Pointer[T] }

// get returns the part, allocating it if this is its first use.
func (l *lazy[T]) get() *T {
	if v := l.p.Load(); v != nil {
		return v
	}
	l.p.CompareAndSwap(nil, new(T))
	return l.p.Load()
}

// peek returns the part, or nil if it was never used.
func (l *lazy[T]) peek() *T { return l.p.Load() }
