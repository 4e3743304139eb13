package bodyreplay

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// ErrNotReplayable is returned by Next when the body cannot be sent again:
// it was longer than the limit, or it is streamed once by design.
var ErrNotReplayable = errors.New("bodyreplay: body cannot be replayed")

// ErrSuperseded is what the body of an attempt returns from Read once Seal
// has cut it off in favour of a retry.
var ErrSuperseded = errors.New("bodyreplay: body superseded by a retry")

// errClosed mirrors net/http's error for a read after Close.
var errClosed = errors.New("bodyreplay: read on closed body")

type mode uint8

const (
	modeEmpty   mode = iota // no body: every attempt gets req.Body as it is
	modeGetBody             // retries call req.GetBody
	modeSeek                // retries rewind the caller's io.Seeker
	modeRecord              // retries replay a bounded record, then read on
)

// Body hands out one body per attempt of a request. Its methods are meant to
// be called from one goroutine (the retry loop); the attempt bodies it
// returns may be read and closed from any goroutine.
//
// No method of Body waits on the caller's body: one attempt body at a time
// reads it, without holding a lock, and the others wait for that read only
// inside their own Read, which their Close interrupts.
type Body struct {
	mode    mode
	orig    io.ReadCloser
	getBody func() (io.ReadCloser, error)
	seeker  io.Seeker
	start   int64 // the seeker's offset when New was called
	limit   int64
	handed  int // how many attempt bodies Next has returned

	closeOnce sync.Once

	// mu guards everything below. It is never held while the caller's
	// body is read.
	mu       sync.Mutex
	cur      *attemptBody
	finished bool
	// reading is non-nil while an attempt reads the caller's body, and is
	// closed when that read returns: one read of it at a time.
	reading chan struct{}
	// rewind is set when a retry in modeSeek had to leave the rewind to
	// its first read, because the old attempt's read was still in flight.
	rewind bool
	// chunks is the record: the first recorded bytes of the body, in
	// chunks of chunkSize (the last may be shorter), so that it grows
	// without copying and never holds more than the body.
	chunks   [][]byte
	recorded int64
	consumed int64 // bytes read from the caller's body, recorded or not
	overflow bool  // more than limit bytes were read; the record was dropped
	srcEOF   bool
	srcErr   error
}

// New prepares req's body for replay, keeping at most limit bytes in memory
// (see the package doc for how each kind of body is handled). It does not
// read the body. req is not modified.
func New(req *http.Request, limit int64) *Body {
	b := &Body{orig: req.Body, limit: limit}
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		b.mode = modeEmpty
	case req.GetBody != nil:
		b.mode, b.getBody = modeGetBody, req.GetBody
	case canSeek(req.Body, b):
		b.mode = modeSeek
	case limit < 0 || req.ContentLength > limit:
		// Streamed once: nothing is recorded, but a body that no attempt
		// has touched yet (the dial failed) can still be sent whole.
		b.mode, b.limit = modeRecord, 0
	default:
		b.mode = modeRecord
	}
	return b
}

func canSeek(body io.ReadCloser, b *Body) bool {
	s, ok := body.(io.Seeker)
	if !ok {
		return false
	}
	off, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return false
	}
	b.seeker, b.start = s, off
	return true
}

// Next returns the body for the next attempt: the first call returns the
// body of the first attempt. Each later call seals the previous attempt and
// returns ErrNotReplayable if the body cannot be sent again, or the error of
// GetBody or Seek. It never waits for a read of the caller's body.
func (b *Body) Next() (io.ReadCloser, error) {
	b.handed++
	first := b.handed == 1
	switch b.mode {
	case modeEmpty:
		return b.orig, nil
	case modeGetBody:
		if first {
			return &watchedBody{ReadCloser: b.orig, b: b}, nil
		}
		rc, err := b.getBody()
		if err != nil {
			return nil, errors.Join(errors.New("bodyreplay: GetBody failed"), err)
		}
		return &watchedBody{ReadCloser: rc, b: b}, nil
	}
	if !first {
		if !b.Seal() {
			return nil, ErrNotReplayable
		}
		if b.mode == modeSeek {
			if err := b.rewindNowOrLater(); err != nil {
				return nil, err
			}
		}
	}
	a := &attemptBody{b: b, done: make(chan struct{})}
	b.mu.Lock()
	b.cur = a
	b.mu.Unlock()
	return a, nil
}

// rewindNowOrLater rewinds the caller's body now if no attempt is reading
// it, or else leaves the rewind to the next read, after the one in flight.
func (b *Body) rewindNowOrLater() error {
	b.mu.Lock()
	if b.reading != nil {
		b.rewind = true
		b.mu.Unlock()
		return nil
	}
	b.rewind = false
	done := b.startRead()
	b.mu.Unlock()
	err := b.seekStart()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endRead(done)
	if err != nil && b.srcErr == nil {
		b.srcErr = err
	}
	return err
}

func (b *Body) seekStart() error {
	if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
		return errors.Join(errors.New("bodyreplay: rewinding the body failed"), err)
	}
	return nil
}

// startRead and endRead bracket a use of the caller's body; b.mu is held
// when they are called, not in between.
func (b *Body) startRead() chan struct{} {
	done := make(chan struct{})
	b.reading = done
	return done
}

func (b *Body) endRead(done chan struct{}) {
	b.reading = nil
	close(done)
}

// Seal reports whether a next attempt can be given the complete body and,
// only if it can, cuts the current attempt's body off: its later reads fail
// with ErrSuperseded. When the body cannot be replayed, nothing is cut, so
// the current attempt (whose response the caller may get) goes on intact.
// Seal never waits for a read in progress; the bytes such a read returns go
// to the next attempt. It may be called more than once.
func (b *Body) Seal() bool {
	if b.mode == modeEmpty || b.mode == modeGetBody {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.replayableLocked() {
		return false
	}
	if b.cur != nil {
		b.cur.superseded = true
	}
	return true
}

// replayableLocked reports whether every byte read so far can be given to a
// next attempt. A read in flight is capped to the record's room, so it can
// overflow the record only if it started with the record full.
func (b *Body) replayableLocked() bool {
	if b.srcErr != nil || b.overflow {
		return false
	}
	if b.mode == modeSeek || b.reading == nil || b.srcEOF {
		return true
	}
	return b.recorded < b.limit
}

// Err returns the first error that reading the caller's body (or a copy
// from GetBody) returned, other than io.EOF. A failure of the caller's own
// body is never a reason to retry.
func (b *Body) Err() error {
	if b.mode == modeEmpty {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srcErr
}

// Close ends the replay: the caller's body is closed now if the last
// attempt's body is closed already, or else as soon as it is. In the modes
// where each attempt's body is the caller's own or a fresh copy from GetBody,
// the RoundTripper closes them and Close does nothing.
func (b *Body) Close() {
	if b.mode != modeSeek && b.mode != modeRecord {
		return
	}
	b.mu.Lock()
	b.finished = true
	cur := b.cur
	b.mu.Unlock()
	if cur == nil || cur.closed.Load() {
		b.closeOrig()
	}
}

func (b *Body) closeOrig() {
	b.closeOnce.Do(func() { _ = b.orig.Close() })
}

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

// watchedBody is the body of an attempt in modeGetBody: the caller's own
// body or GetBody's copy, read as it is, but a failure of it is
// noted so that Err can report it (it must never be taken for the network's).
type watchedBody struct {
	io.ReadCloser
	b *Body
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		w.b.mu.Lock()
		if w.b.srcErr == nil {
			w.b.srcErr = err
		}
		w.b.mu.Unlock()
	}
	return n, err
}

// attemptBody is the body one attempt reads in modeSeek and modeRecord.
type attemptBody struct {
	b          *Body
	pos        int64 // bytes of the body this attempt has read; guarded by b.mu
	superseded bool  // guarded by b.mu
	closed     atomic.Bool
	done       chan struct{} // closed by Close, to end a wait for another read
}

func (a *attemptBody) Read(p []byte) (int, error) {
	b := a.b
	b.mu.Lock()
	for {
		switch {
		case a.closed.Load():
			b.mu.Unlock()
			return 0, errClosed
		case a.superseded:
			b.mu.Unlock()
			return 0, ErrSuperseded
		case len(p) == 0:
			b.mu.Unlock()
			return 0, nil
		case b.mode == modeRecord && !b.overflow && a.pos < b.recorded:
			n := b.replay(p, a.pos) // what is recorded needs no wait
			a.pos += int64(n)
			b.mu.Unlock()
			return n, nil
		}
		if b.reading == nil {
			break
		}
		// Another attempt's read of the caller's body is in flight: its
		// bytes are ours next. Wait for it, or for our own Close.
		inFlight := b.reading
		b.mu.Unlock()
		select {
		case <-inFlight:
		case <-a.done:
		}
		b.mu.Lock()
	}
	if b.mode == modeRecord {
		if a.pos != b.consumed {
			// The record overflowed while this attempt was replaying it:
			// the bytes it needs next are gone. Never skip them.
			b.mu.Unlock()
			return 0, ErrNotReplayable
		}
		if b.srcErr != nil {
			defer b.mu.Unlock()
			return 0, b.srcErr
		}
		if b.srcEOF {
			b.mu.Unlock()
			return 0, io.EOF
		}
		if room := b.limit - b.recorded; !b.overflow && room > 0 && int64(len(p)) > room {
			p = p[:room] // a read never overflows a record that has room
		}
	}
	rewind := b.rewind
	b.rewind = false
	done := b.startRead()
	b.mu.Unlock()

	var n int
	var err error
	if rewind {
		err = b.seekStart()
	}
	if err == nil {
		n, err = b.orig.Read(p)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.endRead(done)
	if b.mode == modeRecord {
		b.record(p[:n])
	}
	b.consumed += int64(n)
	switch {
	case err == io.EOF:
		b.srcEOF = true
	case err != nil && b.srcErr == nil:
		b.srcErr = err
	}
	switch {
	case a.closed.Load():
		return 0, errClosed
	case a.superseded:
		return 0, ErrSuperseded // the bytes went to the record, for the next attempt
	}
	if b.mode == modeRecord {
		a.pos += int64(n)
	}
	return n, err
}

// Close marks this attempt's body closed and ends a wait of its Read. It
// never blocks on a read in progress, and closes the caller's body if the
// replay is over.
func (a *attemptBody) Close() error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(a.done)
	b := a.b
	b.mu.Lock()
	last := b.finished && b.cur == a
	b.mu.Unlock()
	if last {
		b.closeOrig()
	}
	return nil
}
