package bodyreplay

// RecordCap exposes the record's capacity to the tests of the memory bound.
func (b *Body) RecordCap() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.chunks {
		n += cap(c)
	}
	return n
}

// SpillOpen reports whether the record's file is open.
func (b *Body) SpillOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spill != nil
}

// SpillOpen reports whether the shared record's file is open.
func (s *Shared) SpillOpen() bool { return s.b.SpillOpen() }

// RecordCap exposes the shared record's capacity in memory.
func (s *Shared) RecordCap() int { return s.b.RecordCap() }
