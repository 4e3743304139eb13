package bodyreplay

import (
	"io"
	"net/http"
)

// Shared hands out the body of a request to attempts that run at once, as
// hedged requests do: every reader that Next returns reads the whole body
// from its start, while the others read, and none cuts another off.
//
// A body with GetBody gives each reader but the first a fresh copy, and a
// regular file each a handle of its own (as Reopen does); the first reader
// is the caller's body itself. Any other body (an io.Seeker among them,
// whose one offset the readers could not share) is recorded, as Body
// records it: the first bytes up to Options.Limit in memory, then up to
// Options.SpillLimit more in a temporary file. Every reader reads the
// record, and the one that has read all of it reads the caller's body on
// (one read at a time), into the record for the others. Once a reader has
// read past the record, it reads on alone: a reader that needs the bytes no
// longer kept fails with ErrNotReplayable (it never skips them), and Next
// refuses new readers.
//
// Next and Close are meant to be called from one goroutine; the readers may
// be read and closed from any goroutine. Nothing but a reader's own Read
// waits on the caller's body, and that wait ends when the reader is closed
// or its context (Bind) ends.
type Shared struct{ b Body }

// NewShared prepares req's body for readers that run at once, keeping up
// to o.Limit bytes in memory and o.SpillLimit more on disk. It reports
// false, and touches nothing, when a body that must be recorded cannot be
// (a negative Limit, or a known ContentLength past both limits together):
// such a body can be sent once only. It does not read the body. req is not
// modified.
func NewShared(req *http.Request, o Options) (*Shared, bool) {
	s := &Shared{b: Body{shared: true}}
	if !s.b.init(req, o) {
		return nil, false
	}
	return s, true
}

// Next returns another reader of the body, from its start: the first call
// returns the caller's body itself when it is not recorded. It returns
// ErrNotReplayable when no reader can have the whole body any more (a
// reader has read past the record, or the caller's body failed), or the
// error of GetBody or of reopening the file. It never waits for a read of
// the caller's body.
func (s *Shared) Next() (io.ReadCloser, error) {
	b := &s.b
	b.handed++
	first := b.handed == 1
	switch {
	case b.mode == modeEmpty, first && b.mode != modeRecord:
		return b.orig, nil
	case b.mode == modeGetBody:
		return b.copy()
	case b.mode == modeFile:
		return b.nextFile()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !first && !b.sharableLocked() {
		return nil, ErrNotReplayable
	}
	b.open++
	return &attemptBody{b: b}, nil
}

// sharableLocked reports whether a new reader can have the whole body: all
// that was read is in the record, and a read in flight cannot take the
// body past it. With a known length, which NewShared let in only within
// the record, such a read can only be the one that finds the end (a body
// longer than it announced would make the new reader give way, as a reader
// behind does); else it may, once the record is full.
func (b *Body) sharableLocked() bool {
	return b.replayableLocked() || b.length > 0 && b.srcErr == nil && !b.overflow
}

// Close ends the hand-out: no reader is asked for after it. The caller's
// body is closed now if every recorded reader is closed already, or else as
// soon as the last one is, and so is the record's file. Readers that are
// the caller's body, a copy or a file handle are the RoundTripper's to
// close; Close releases the file's spare handle.
func (s *Shared) Close() { s.b.Close() }
