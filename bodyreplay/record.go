package bodyreplay

// The record: the first bytes of a body that has no GetBody and cannot seek,
// kept while the first attempt streams them, so that a retry can send them
// again. b.mu is held by every caller.

// chunkSize is the unit the record grows by.
const chunkSize = 32 << 10

// record appends p to the record, or drops the record once it would pass
// the limit. The record's capacity never exceeds the limit.
func (b *Body) record(p []byte) {
	if b.overflow || len(p) == 0 {
		return
	}
	if b.recorded+int64(len(p)) > b.limit {
		b.overflow, b.chunks = true, nil
		return
	}
	for len(p) > 0 {
		last := len(b.chunks) - 1
		if last < 0 || len(b.chunks[last]) == cap(b.chunks[last]) {
			b.chunks = append(b.chunks, make([]byte, 0, min(chunkSize, b.limit-b.recorded)))
			last++
		}
		c := b.chunks[last]
		n := min(len(p), cap(c)-len(c))
		b.chunks[last] = append(c, p[:n]...)
		b.recorded += int64(n)
		p = p[n:]
	}
}

// replay copies into p the recorded bytes from pos on.
func (b *Body) replay(p []byte, pos int64) int {
	c := b.chunks[pos/chunkSize]
	return copy(p, c[pos%chunkSize:])
}
