package bodyreplay

import (
	"context"
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
	// buf receives the read in flight; one read at a time uses it.
	buf []byte
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
	b    *Body
	done chan struct{} // closed by Close, to end a wait for a read
	ctx  context.Context
	// Guarded by b.mu:
	pos        int64  // bytes of the body this attempt has read (modeRecord)
	superseded bool   // Seal cut this attempt off
	pending    []byte // bytes read for this attempt that the record does not hold
	eof        bool   // modeSeek: this attempt's pass reached the end
	closed     atomic.Bool
}

// Bind makes the reads of rc, an attempt body that Next returned, stop
// waiting for the caller's body when ctx ends, with ctx's error: a caller's
// body that stalls cannot hold an attempt past its context. It must be
// called before rc is read; it does nothing to other bodies.
func Bind(rc io.ReadCloser, ctx context.Context) {
	if a, ok := rc.(*attemptBody); ok {
		a.ctx = ctx
	}
}

func (a *attemptBody) Read(p []byte) (int, error) {
	b := a.b
	var ctxDone <-chan struct{}
	if a.ctx != nil {
		ctxDone = a.ctx.Done()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		switch {
		case a.closed.Load():
			return 0, errClosed
		case a.superseded:
			return 0, ErrSuperseded
		case len(p) == 0:
			return 0, nil
		case len(a.pending) > 0:
			n := copy(p, a.pending)
			a.pending = a.pending[n:]
			a.pos += int64(n)
			return n, nil
		case b.mode == modeRecord && !b.overflow && a.pos < b.recorded:
			n := b.replay(p, a.pos) // what is recorded needs no wait
			a.pos += int64(n)
			return n, nil
		}
		if b.reading == nil {
			if n, err, done := a.endOfData(); done {
				return n, err
			}
			b.startFill(a, len(p))
		}
		// A read of the caller's body is in flight, ours or an older
		// attempt's: its bytes are ours next. Wait for it, for our Close,
		// or for our context.
		inFlight := b.reading
		b.mu.Unlock()
		select {
		case <-inFlight:
		case <-a.done:
		case <-ctxDone:
		}
		b.mu.Lock()
		if ctxDone != nil && a.ctx.Err() != nil && b.reading == inFlight {
			return 0, a.ctx.Err()
		}
	}
}

// endOfData reports, when no read is in flight and a has nothing buffered,
// whether a's reads are over, and with what.
func (a *attemptBody) endOfData() (int, error, bool) {
	b := a.b
	if b.mode == modeSeek {
		switch {
		case a.eof:
			return 0, io.EOF, true
		case b.srcErr != nil:
			return 0, b.srcErr, true
		}
		return 0, nil, false
	}
	switch {
	case a.pos != b.consumed:
		// The record overflowed while this attempt was replaying it: the
		// bytes it needs next are gone. Never skip them.
		return 0, ErrNotReplayable, true
	case b.srcErr != nil:
		return 0, b.srcErr, true
	case b.srcEOF:
		return 0, io.EOF, true
	}
	return 0, nil, false
}

// startFill starts one read of the caller's body, of up to size bytes, for
// owner, on a goroutine of its own so that owner can stop waiting for it.
// b.mu is held. In modeRecord a read never takes more than the record has
// room for, so that a read in flight cannot overflow a record that Seal
// promised to replay.
func (b *Body) startFill(owner *attemptBody, size int) {
	size = min(size, chunkSize)
	if room := b.limit - b.recorded; b.mode == modeRecord && !b.overflow && room > 0 {
		size = int(min(int64(size), room))
	}
	if cap(b.buf) < size {
		b.buf = make([]byte, size)
	}
	rewind := b.rewind
	b.rewind = false
	done := b.startRead()
	go b.fill(owner, b.buf[:size], rewind, done)
}

// fill reads the caller's body once into buf and hands the bytes on: to the
// record when they fit, or else to owner if it still wants them.
func (b *Body) fill(owner *attemptBody, buf []byte, rewind bool, done chan struct{}) {
	var n int
	var err error
	if rewind {
		err = b.seekStart()
	}
	if err == nil {
		n, err = b.orig.Read(buf)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.endRead(done)
	b.consumed += int64(n)
	if b.mode == modeRecord {
		b.record(buf[:n])
	}
	wanted := !owner.superseded && !owner.closed.Load()
	if n > 0 && wanted && (b.mode == modeSeek || b.overflow) {
		owner.pending = buf[:n] // buf is not reused before owner has read it: no other fill starts until then
	}
	switch {
	case err == io.EOF && b.mode == modeSeek:
		owner.eof = true
	case err == io.EOF:
		b.srcEOF = true
	case err != nil && b.srcErr == nil:
		b.srcErr = err
	}
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
