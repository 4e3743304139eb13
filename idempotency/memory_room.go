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
		if len(s.expiry) > 0 && !now.Before(s.expiry[0].expires) {
			s.remove(s.expiry[0])
			continue
		}
		if len(s.largest) == 0 {
			return false
		}
		hog := s.largest[0]
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

// expiryHeap orders records by expiry, soonest first.
type expiryHeap []*memEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*memEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// scopeHeap orders scopes by their share of the store, largest first.
type scopeHeap []*memScope

func (h scopeHeap) Len() int           { return len(h) }
func (h scopeHeap) Less(i, j int) bool { return h[i].share > h[j].share }
func (h scopeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *scopeHeap) Push(x any) {
	sc := x.(*memScope)
	sc.index = len(*h)
	*h = append(*h, sc)
}
func (h *scopeHeap) Pop() any {
	old := *h
	sc := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return sc
}
