package transport

import (
	"sync"
	"sync/atomic"
)

// One entry per host for the layers of a chain: the retry budget, the
// circuit and the rate state of a host sit side by side in one hostSlots,
// so that NewClientWith's chain keeps one table, not three. A host new to
// the chain then costs one entry and one eviction, not one in each layer
// (100,000 hosts round-robin: 10 allocations a call, 3 after). A layer
// built alone keeps a table of its own, of the same entries.

// hostSlots is one host's state for each layer that keeps some. Each slot is
// set up by its layer on first use.
type hostSlots struct {
	budget  slot[hostBudget]
	circuit slot[circuit]
	rate    slot[hostState]
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

// hostSlotsIdle reports whether forgetting s loses nothing that matters:
// each slot in use is idle as its layer says.
func hostSlotsIdle(s *hostSlots) bool {
	return (!s.circuit.ready.Load() || circuitIdle(&s.circuit.v)) &&
		(!s.rate.ready.Load() || rateIdle(&s.rate.v))
}

// newHostSlots returns a table of up to max hosts' entries.
func newHostSlots(max int) *hostTable[hostSlots] {
	return newHostTable(max, hostSlotsIdle)
}

// hostView is one layer's view of a table of hostSlots: its own slot of
// each host's entry.
type hostView[T any] struct {
	table *hostTable[hostSlots]
	slot  func(*hostSlots) *slot[T]
	init  func(*T) // sets up a host's state; nil for the zero value
}

// get returns host's state, creating the entry or the slot if need be.
func (v hostView[T]) get(host string) *T { return v.slot(v.table.get(host)).get(v.init) }

// len returns how many hosts the table holds.
func (v hostView[T]) len() int { return v.table.len() }

// ownOrShared is shared when a chain passes one, or else a table of max
// hosts of the layer's own.
func ownOrShared(shared *hostTable[hostSlots], max int) *hostTable[hostSlots] {
	if shared != nil {
		return shared
	}
	return newHostSlots(max)
}
