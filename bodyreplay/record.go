package bodyreplay

// The record: the first bytes of a body that has no GetBody and cannot seek,
// kept while the first attempt streams them, so that a retry can send them
// again. The first limit bytes are kept in memory, the next spillLimit in a
// temporary file (spill.go). b.mu is held by every caller.

// chunkSize is the unit the record grows by in memory.
const chunkSize = 32 << 10

// capacity is how many bytes the record can hold, in memory and on disk.
func (b *Body) capacity() int64 {
	if b.spillLimit > 0 && b.limit > 0 {
		return b.limit + min(b.spillLimit, 1<<62-b.limit)
	}
	return max(b.limit, 0)
}

// record appends p to the record, or drops the record once it would pass
// its capacity, or when its file fails. The memory it holds never exceeds
// the memory limit.
func (b *Body) record(p []byte) {
	if b.overflow || len(p) == 0 {
		return
	}
	if b.recorded+int64(len(p)) > b.capacity() {
		b.dropRecord()
		return
	}
	if room := b.limit - b.recorded; room > 0 {
		n := int(min(int64(len(p)), room))
		b.keep(p[:n])
		p = p[n:]
	}
	if len(p) > 0 && !b.spillWrite(p) {
		b.dropRecord()
	}
}

// keep appends p, which fits under the memory limit, to the chunks. Every
// chunk but the last holds chunkSize bytes.
func (b *Body) keep(p []byte) {
	for len(p) > 0 {
		last := len(b.chunks) - 1
		if last < 0 || len(b.chunks[last]) == chunkSize {
			size := b.chunkCap(0)
			if b.length <= 0 {
				size = min(size, len(p)) // a small body of unknown length takes what it needs
			}
			b.chunks = append(b.chunks, make([]byte, 0, size))
			last++
		}
		c := b.chunks[last]
		if len(c) == cap(c) {
			// Cut to what had come, or to the length the request
			// announced, and more comes: it grows to its full size.
			c = append(make([]byte, 0, b.chunkCap(len(c))), c...)
		}
		n := min(len(p), cap(c)-len(c))
		b.chunks[last] = append(c, p[:n]...)
		b.recorded += int64(n)
		p = p[n:]
	}
}

// chunkCap is the capacity of the last chunk when it holds held bytes:
// chunkSize, or less where the memory limit, or the announced end of the
// body (if it is not past it), comes first.
func (b *Body) chunkCap(held int) int {
	start := b.recorded - int64(held)
	c := min(chunkSize, b.limit-start)
	if rest := b.length - start; rest > int64(held) {
		c = min(c, rest)
	}
	return int(c)
}

// dropRecord gives the record up: no attempt after the current one can
// have the whole body.
func (b *Body) dropRecord() {
	b.overflow, b.chunks = true, nil
	b.closeSpill()
}

// replay copies into p the recorded bytes from pos on.
func (b *Body) replay(p []byte, pos int64) (int, error) {
	if pos >= b.limit {
		return b.spillRead(p, pos)
	}
	c := b.chunks[pos/chunkSize]
	return copy(p, c[pos%chunkSize:]), nil
}
