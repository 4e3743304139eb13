package bodyreplay

import (
	"errors"
	"os"
)

// The spill: the part of the record past the memory limit, kept in a
// temporary file so that a large body can be replayed in bounded memory.
// b.mu is held by every caller.

// spillFile is the record's file. It is created on the first byte past the
// memory limit and unlinked at once where the system allows it (so that
// nothing stays on disk even if the process dies); otherwise it is removed
// when it is closed.
type spillFile struct {
	f        *os.File
	unlinked bool
}

func createSpill(dir string) (*spillFile, error) {
	f, err := os.CreateTemp(dir, "rtchain-body-*")
	if err != nil {
		return nil, err
	}
	return &spillFile{f: f, unlinked: os.Remove(f.Name()) == nil}, nil
}

func (s *spillFile) close() {
	_ = s.f.Close()
	if !s.unlinked {
		_ = os.Remove(s.f.Name())
	}
}

// spillWrite appends p to the spill file, creating it if need be. It
// reports false if the file cannot be created or written (the disk is full,
// say): the record must then be dropped, as when it passes its limit.
func (b *Body) spillWrite(p []byte) bool {
	if b.spill == nil {
		s, err := createSpill(b.spillDir)
		if err != nil {
			return false
		}
		b.spill = s
	}
	if _, err := b.spill.f.WriteAt(p, b.recorded-b.limit); err != nil {
		return false
	}
	b.recorded += int64(len(p))
	return true
}

var errSpillGone = errors.New("bodyreplay: the record's file is closed")

// spillRead copies into p the spilled bytes from pos on (pos counts from
// the start of the body, and is past the memory limit). If the file fails,
// the record is dropped and the error returned: the attempt fails, never
// with a short body.
func (b *Body) spillRead(p []byte, pos int64) (int, error) {
	if b.spill == nil {
		return 0, errSpillGone
	}
	p = p[:min(int64(len(p)), b.recorded-pos)]
	n, err := b.spill.f.ReadAt(p, pos-b.limit)
	if n == len(p) {
		return n, nil // ReadAt may say io.EOF with all it was asked for
	}
	if err == nil {
		err = errSpillGone
	}
	b.dropRecord() // no later attempt can have the body either
	return n, errors.Join(errors.New("bodyreplay: reading the record's file failed"), err)
}

// closeSpill removes the spill file, if there is one.
func (b *Body) closeSpill() {
	if b.spill != nil {
		b.spill.close()
		b.spill = nil
	}
}
