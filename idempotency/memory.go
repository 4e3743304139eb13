package idempotency

import (
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
// instance. It is bounded in keys and bytes. Expired records are dropped
// first; when only live records remain and a new key would pass a bound,
// Begin fails with ErrStoreFull (the middleware answers 503) rather than
// forget a live record, which could let a duplicate run twice.
//
// It implements Extender, and is safe for concurrent use.
type MemoryStore struct {
	maxKeys  int
	maxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	records map[string]*list.Element // of *memEntry
	order   *list.List               // oldest first
	bytes   int64
}

type memEntry struct {
	key     string
	rec     Record
	expires time.Time
	size    int64
}

var (
	_ Store    = (*MemoryStore)(nil)
	_ Extender = (*MemoryStore)(nil)
)

// NewMemoryStore returns a MemoryStore holding at most maxKeys records and
// about maxBytes of stored responses. Zero or negative values mean
// DefaultMemoryMaxKeys and DefaultMemoryMaxBytes.
func NewMemoryStore(maxKeys int, maxBytes int64) *MemoryStore {
	if maxKeys <= 0 {
		maxKeys = DefaultMemoryMaxKeys
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryMaxBytes
	}
	return &MemoryStore{maxKeys: maxKeys, maxBytes: maxBytes, now: time.Now,
		records: map[string]*list.Element{}, order: list.New()}
}

// Begin implements Store.
func (s *MemoryStore) Begin(_ context.Context, key string, r Record, lease time.Duration) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if el, ok := s.records[key]; ok {
		e := el.Value.(*memEntry)
		switch {
		case !now.Before(e.expires):
			s.remove(el)
		case e.rec.Owner == r.Owner && e.rec.Response == nil:
			e.expires = now.Add(lease) // the owner's Begin, sent again
			return Record{}, true, nil
		default:
			return e.rec, false, nil
		}
	}
	size := int64(len(key) + len(r.Fingerprint) + len(r.Owner) + 64)
	if !s.makeRoom(now, size) {
		return Record{}, false, ErrStoreFull
	}
	r.Response = nil
	s.records[key] = s.order.PushBack(&memEntry{key: key, rec: r, expires: now.Add(lease), size: size})
	s.bytes += size
	return Record{}, true, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key, owner string, resp *Response, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.live(key, owner)
	if !ok {
		if el, found := s.records[key]; found && s.isStored(el, owner) {
			return nil // the owner's Complete, sent again
		}
		return ErrLeaseLost
	}
	e := el.Value.(*memEntry)
	grow := resp.size()
	s.bytes += grow
	e.size += grow
	e.rec.Response = resp
	e.expires = s.now().Add(ttl)
	s.order.MoveToBack(el) // order stays by expiry: every completed record has the same ttl
	return nil
}

// Extend implements Extender.
func (s *MemoryStore) Extend(_ context.Context, key, owner string, lease time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.live(key, owner)
	if !ok {
		return ErrLeaseLost
	}
	el.Value.(*memEntry).expires = s.now().Add(lease)
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.live(key, owner)
	if !ok {
		return ErrLeaseLost
	}
	s.remove(el)
	return nil
}

// Len returns how many records the store holds, expired ones included
// until they are dropped.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// live returns key's record if owner holds it in progress and its lease has
// not expired.
func (s *MemoryStore) live(key, owner string) (*list.Element, bool) {
	el, ok := s.records[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*memEntry)
	if e.rec.Owner != owner || e.rec.Response != nil || !s.now().Before(e.expires) {
		return nil, false
	}
	return el, true
}

// isStored reports whether el is owner's completed, unexpired record.
func (s *MemoryStore) isStored(el *list.Element, owner string) bool {
	e := el.Value.(*memEntry)
	return e.rec.Owner == owner && e.rec.Response != nil && s.now().Before(e.expires)
}

// makeRoom drops expired records until a new one of size fits, and reports
// whether it does.
func (s *MemoryStore) makeRoom(now time.Time, size int64) bool {
	fits := func() bool { return len(s.records) < s.maxKeys && s.bytes+size <= s.maxBytes }
	for el := s.order.Front(); el != nil && !fits(); {
		next := el.Next()
		if !now.Before(el.Value.(*memEntry).expires) {
			s.remove(el)
		}
		el = next
	}
	return fits()
}

func (s *MemoryStore) remove(el *list.Element) {
	e := s.order.Remove(el).(*memEntry)
	delete(s.records, e.key)
	s.bytes -= e.size
}
