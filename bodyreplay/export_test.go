package bodyreplay

// RecordCap exposes the record's capacity to the tests of the memory bound.
func (b *Body) RecordCap() int {
	b.readMu.Lock()
	defer b.readMu.Unlock()
	n := 0
	for _, c := range b.chunks {
		n += cap(c)
	}
	return n
}
