package idempotency

import (
	"container/heap"
	"container/list"
	"context"
	"sync"
	"time"
)

// Defaults of NewMemoryStore.
const (
	DefaultMemoryMaxKeys  = 100_000
	DefaultMemoryMaxBytes = 64 << 20
)

// MemoryStore is a Store in the memory of one process: it serves a single
// instance. It is bounded in keys and in bytes, both checked when a key is
// taken and when its answer is stored.
//
// When a new key would pass a bound, expired records are dropped first.
// If only live records remain, the store is shared fairly between scopes
// (the callers CallerScope tells apart, or the scopes of Options.Scope):
// the scope that holds the largest share of the store loses its oldest
// completed record, as long as it holds more than the scope asking would
// after its new key. A scope never loses records to its own new keys, and
// a record in progress is never dropped: when nothing can be dropped,
// Begin fails with ErrStoreFull (the middleware answers 503), rather than
// forget a live record of the caller asking, which could let its
// duplicate run twice. So one caller that fills the store with keys of
// its own gets 503s itself, while every other caller's keys are taken,
// at the price of the filler's oldest answers: a duplicate of one of
// those runs again. An answer that still does not fit when it is stored
// is kept as not stored: its duplicates get 410, never a second run.
//
// Each operation costs O(log n) in the number of records, full or not.
// It implements Extender, and is safe for concurrent use.
type MemoryStore struct {
	maxKeys  int
	maxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	records map[string]*memEntry
	expiry  indexed[*memEntry] // every record, soonest expiry first
	scopes  map[string]*memScope
	largest indexed[*memScope] // every scope holding a record, largest share first
	bytes   int64
}

type memEntry struct {
	key     string
	scope   *memScope
	rec     Record
	expires time.Time
	size    int64
	index   int           // in MemoryStore.expiry
	done    *list.Element // in scope.done, once completed
}

var (
	_ Store    = (*MemoryStore)(nil)
	_ Extender = (*MemoryStore)(nil)
)

// NewMemoryStore returns a MemoryStore holding at most maxKeys records and
// about maxBytes of records and stored responses. Zero or negative values
// mean DefaultMemoryMaxKeys and DefaultMemoryMaxBytes.
func NewMemoryStore(maxKeys int, maxBytes int64) *MemoryStore {
	if maxKeys <= 0 {
		maxKeys = DefaultMemoryMaxKeys
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryMaxBytes
	}
	return &MemoryStore{maxKeys: maxKeys, maxBytes: maxBytes, now: time.Now,
		records: map[string]*memEntry{}, scopes: map[string]*memScope{},
		expiry: byExpiry(), largest: byShare()}
}

// Begin implements Store.
func (s *MemoryStore) Begin(_ context.Context, key string, r Record, lease time.Duration) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e, ok := s.records[key]; ok {
		switch {
		case !now.Before(e.expires):
			s.remove(e)
		case e.rec.Owner == r.Owner && e.rec.Response == nil:
			s.setExpiry(e, now.Add(lease)) // the owner's Begin, sent again
			return Record{}, true, nil
		default:
			return e.rec, false, nil
		}
	}
	name := scopeOfKey(key)
	size := int64(len(key) + len(r.Fingerprint) + len(r.Owner) + 64)
	if !s.makeRoom(now, name, 1, size) {
		return Record{}, false, ErrStoreFull
	}
	sc := s.scopes[name]
	if sc == nil {
		sc = &memScope{name: name}
		s.scopes[name] = sc
		heap.Push(&s.largest, sc)
	}
	r.Response = nil
	e := &memEntry{key: key, scope: sc, rec: r, expires: now.Add(lease), size: size}
	s.records[key] = e
	heap.Push(&s.expiry, e)
	sc.keys++
	s.grow(e, size)
	return Record{}, true, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key, owner string, resp *Response, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key, owner)
	if !ok {
		if e, found := s.records[key]; found && s.isStored(e, owner) {
			return nil // the owner's Complete, sent again
		}
		return ErrLeaseLost
	}
	now := s.now()
	grow := resp.size()
	if !s.makeRoom(now, e.scope.name, 0, grow) {
		resp = &Response{Status: resp.Status, NotStored: true}
		grow = resp.size()
	}
	e.rec.Response = resp
	s.grow(e, grow)
	s.setExpiry(e, now.Add(ttl))
	e.done = e.scope.done.PushBack(e)
	return nil
}

// Extend implements Extender.
func (s *MemoryStore) Extend(_ context.Context, key, owner string, lease time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key, owner)
	if !ok {
		return ErrLeaseLost
	}
	s.setExpiry(e, s.now().Add(lease))
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key, owner)
	if !ok {
		return ErrLeaseLost
	}
	s.remove(e)
	return nil
}

// Len returns how many records the store holds, expired ones included
// until they are dropped.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Bytes returns the size the store counts against its byte bound: its
// records and their stored responses.
func (s *MemoryStore) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// live returns key's record if owner holds it in progress and its lease has
// not expired.
func (s *MemoryStore) live(key, owner string) (*memEntry, bool) {
	e, ok := s.records[key]
	if !ok || e.rec.Owner != owner || e.rec.Response != nil || !s.now().Before(e.expires) {
		return nil, false
	}
	return e, true
}

// isStored reports whether e is owner's completed, unexpired record.
func (s *MemoryStore) isStored(e *memEntry, owner string) bool {
	return e.rec.Owner == owner && e.rec.Response != nil && s.now().Before(e.expires)
}
