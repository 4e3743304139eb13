package bodyreplay

// RecordCap exposes the record's capacity to the tests of the memory bound.
func (b *Body) RecordCap() int {
	b.readMu.Lock()
	defer b.readMu.Unlock()
	return cap(b.buf)
}
