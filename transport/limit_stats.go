package transport

import (
	"sync"
	"weak"
)

// LimitStats reads what Limit layers learned, for a gauge: give the same
// one to the LimitOptions.Stats of each layer whose hosts it should show
// (rtotel's Instrumentation keeps one for the clients it builds). Its zero
// value is ready to use; it is safe for concurrent use.
//
// It holds its layers weakly: a client that is dropped is forgotten, not
// kept alive by its metrics. Reading costs nothing on the calls' path.
type LimitStats struct {
	mu     sync.Mutex
	tables []weak.Pointer[hostTable[slot[limitHost]]]
}

// add makes t one of the tables s reads, forgetting the dropped ones.
func (s *LimitStats) add(t *hostTable[slot[limitHost]]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables = append(s.live(), weak.Make(t))
}

// live returns s.tables without the dropped ones, in place; s.mu is held.
func (s *LimitStats) live() []weak.Pointer[hostTable[slot[limitHost]]] {
	kept := s.tables[:0]
	for _, w := range s.tables {
		if w.Value() != nil {
			kept = append(kept, w)
		}
	}
	clear(s.tables[len(kept):])
	return kept
}

// Each calls f once for each host that a layer of s keeps a limit for: its
// current limit, the attempts in flight to it and those waiting for a
// slot. A host kept by several layers (two clients calling it) is reported
// once, their figures summed: what this process as a whole allows it. The
// hosts are those of the moment: the layers go on while f runs.
func (s *LimitStats) Each(f func(host string, limit, inFlight, waiting int)) {
	s.mu.Lock()
	s.tables = s.live()
	tables := make([]*hostTable[slot[limitHost]], 0, len(s.tables))
	for _, w := range s.tables {
		if t := w.Value(); t != nil {
			tables = append(tables, t)
		}
	}
	s.mu.Unlock()
	type figures struct{ limit, inFlight, waiting int }
	var order []string
	sums := map[string]*figures{}
	for _, t := range tables {
		t.each(func(host string, sl *slot[limitHost]) {
			if !sl.ready.Load() {
				return
			}
			l := sl.v.lim
			s := sums[host]
			if s == nil {
				s = &figures{}
				sums[host] = s
				order = append(order, host)
			}
			s.limit += l.Limit()
			s.inFlight += l.InFlight()
			s.waiting += l.Waiting()
		})
	}
	for _, h := range order {
		s := sums[h]
		f(h, s.limit, s.inFlight, s.waiting)
	}
}
