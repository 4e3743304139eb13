package idempotency

import (
	"container/heap"
	"container/list"
	"strconv"
	"strings"
	"time"
)

// memScope is what one scope holds in a MemoryStore.
type memScope struct {
	name  string
	keys  int
	bytes int64
	done  list.List // its completed records (*memEntry), oldest first
	index int       // in MemoryStore.largest
	share float64   // of the store, by its tighter bound
}

// makeRoom drops records until keys more records and size more bytes fit,
// for the scope named scope, and reports whether they do. Expired records
// go first; then the oldest completed record of the scope with the largest
// share, if that share is larger than the asking scope's would be. Each
// drop costs O(log n), and each is of a record that had to go.
func (s *MemoryStore) makeRoom(now time.Time, scope string, keys int, size int64) bool {
	for len(s.records)+keys > s.maxKeys || s.bytes+size > s.maxBytes {
		if s.expiry.Len() > 0 && !now.Before(s.expiry.items[0].expires) {
			s.remove(s.expiry.items[0])
			continue
		}
		if s.largest.Len() == 0 {
			return false
		}
		hog := s.largest.items[0]
		var asking float64
		if sc := s.scopes[scope]; sc != nil {
			asking = s.shareOf(sc.keys+keys, sc.bytes+size)
		} else {
			asking = s.shareOf(keys, size)
		}
		if hog.name == scope || hog.share <= asking || hog.done.Len() == 0 {
			return false
		}
		s.remove(hog.done.Front().Value.(*memEntry))
	}
	return true
}

// shareOf is the share of the store that keys records of size bytes take,
// by the bound they come nearer to.
func (s *MemoryStore) shareOf(keys int, size int64) float64 {
	return max(float64(keys)/float64(s.maxKeys), float64(size)/float64(s.maxBytes))
}

// grow adds n bytes to e and to what its scope and the store hold.
func (s *MemoryStore) grow(e *memEntry, n int64) {
	e.size += n
	s.bytes += n
	e.scope.bytes += n
	e.scope.share = s.shareOf(e.scope.keys, e.scope.bytes)
	heap.Fix(&s.largest, e.scope.index)
}

func (s *MemoryStore) setExpiry(e *memEntry, t time.Time) {
	e.expires = t
	heap.Fix(&s.expiry, e.index)
}

func (s *MemoryStore) remove(e *memEntry) {
	delete(s.records, e.key)
	heap.Remove(&s.expiry, e.index)
	sc := e.scope
	if e.done != nil {
		sc.done.Remove(e.done)
	}
	s.bytes -= e.size
	sc.bytes -= e.size
	sc.keys--
	if sc.keys == 0 {
		heap.Remove(&s.largest, sc.index)
		delete(s.scopes, sc.name)
		return
	}
	sc.share = s.shareOf(sc.keys, sc.bytes)
	heap.Fix(&s.largest, sc.index)
}

// scopeOfKey is the scope in a key as Middleware ("N:scope:key") and
// rtgrpc ("grpc/N:scope:key") name it; "" for a key of another form.
func scopeOfKey(key string) string {
	key = strings.TrimPrefix(key, "grpc/")
	colon := strings.IndexByte(key, ':')
	if colon < 1 {
		return ""
	}
	n, err := strconv.Atoi(key[:colon])
	if err != nil || n < 0 || n > len(key)-colon-1 {
		return ""
	}
	return key[colon+1 : colon+1+n]
}

// indexed is a heap (container/heap) of items that know their place in it,
// so that one can be fixed or removed where it stands.
type indexed[T any] struct {
	items []T
	less  func(a, b T) bool
	place func(T) *int
}

func (h *indexed[T]) Len() int           { return len(h.items) }
func (h *indexed[T]) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *indexed[T]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.place(h.items[i]), *h.place(h.items[j]) = i, j
}
func (h *indexed[T]) Push(x any) {
	*h.place(x.(T)) = len(h.items)
	h.items = append(h.items, x.(T))
}
func (h *indexed[T]) Pop() any {
	var zero T
	last := h.items[len(h.items)-1]
	h.items[len(h.items)-1] = zero
	h.items = h.items[:len(h.items)-1]
	return last
}

// byExpiry orders records by expiry, soonest first.
func byExpiry() indexed[*memEntry] {
	return indexed[*memEntry]{
		less:  func(a, b *memEntry) bool { return a.expires.Before(b.expires) },
		place: func(e *memEntry) *int { return &e.index },
	}
}

// byShare orders scopes by their share of the store, largest first.
func byShare() indexed[*memScope] {
	return indexed[*memScope]{
		less:  func(a, b *memScope) bool { return a.share > b.share },
		place: func(sc *memScope) *int { return &sc.index },
	}
}
