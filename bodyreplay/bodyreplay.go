package bodyreplay

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// ErrNotReplayable is returned by Next when the body cannot be sent again:
// it was longer than the limit, or it is streamed once by design; and by
// the Read of a Shared's reader that needs bytes the record no longer keeps.
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
	modeFile                // the first attempt gets the caller's *os.File, retries their own handles
	modeSeek                // retries rewind the caller's io.Seeker
	modeRecord              // retries replay a bounded record, then read on
)

// Body hands out one body per attempt of a request. Its methods are meant to
// be called from one goroutine (the retry loop); the attempt bodies it
// returns may be read and closed from any goroutine. A Body inside a Shared
// hands out bodies that are read at once instead (shared.go).
//
// No method of Body waits on the caller's body: one attempt body at a time
// reads it, without holding a lock, and the others wait for that read only
// inside their own Read, which their Close interrupts.
type Body struct {
	mode    mode
	orig    io.ReadCloser
	getBody func() (io.ReadCloser, error)
	seeker  io.Seeker
	spare   *os.File // modeFile: the handle retries reopen the file from
	start   int64    // the seeker's or file's offset when New was called
	length  int64    // the request's ContentLength: > 0 when known
	// limit is how many bytes the record keeps in memory, spillLimit how
	// many more it may keep in a file in spillDir.
	limit      int64
	spillLimit int64
	spillDir   string
	handed     int // how many attempt bodies Next has returned
	// shared is set for a Shared's Body: its readers read at once, none
	// is ever cut off, and the caller's body is closed when all of them
	// are closed, rather than when the current one is.
	shared bool

	closeOnce sync.Once

	// mu guards everything below. It is never held while the caller's
	// body is read.
	mu       sync.Mutex
	cur      *attemptBody
	open     int // shared: readers not closed yet
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
	spill    *spillFile // the record past limit, once there is one
	recorded int64
	consumed int64 // bytes read from the caller's body, recorded or not
	overflow bool  // more than limit bytes were read; the record was dropped
	srcEOF   bool
	srcErr   error
}

// Options say how much of a body that can only be read once may be kept so
// that it can be sent again.
type Options struct {
	// Limit is how many bytes are kept in memory. A negative Limit keeps
	// nothing: such a body is streamed once.
	Limit int64
	// SpillLimit is how many more bytes, past Limit, may be kept in a
	// temporary file; zero or negative keeps nothing on disk. The file is
	// created only when a body passes Limit, and removed when the replay
	// ends (on most systems it is unlinked as soon as it is created).
	SpillLimit int64
	// SpillDir is the directory of that file; "" means os.TempDir().
	SpillDir string
}

// New prepares req's body for replay, keeping at most limit bytes in memory
// and none on disk. It is NewWith(req, Options{Limit: limit}).
func New(req *http.Request, limit int64) *Body {
	return NewWith(req, Options{Limit: limit})
}

// NewWith prepares req's body for replay as o says (see the package doc for
// how each kind of body is handled). It does not read the body. req is not
// modified.
func NewWith(req *http.Request, o Options) *Body {
	b := &Body{}
	if !b.init(req, o) {
		// Streamed once: nothing is recorded, but a body that no attempt
		// has touched yet (the dial failed) can still be sent whole.
		b.limit, b.spillLimit = 0, 0
	}
	return b
}

// init picks b's mode for req's body, and reports false for a body to be
// recorded that no record could hold (a negative limit, or a known length
// past both limits together). A shared Body records a seeker, whose one
// offset its readers could not share.
func (b *Body) init(req *http.Request, o Options) bool {
	b.orig, b.length = req.Body, req.ContentLength
	b.limit, b.spillLimit, b.spillDir = o.Limit, o.SpillLimit, o.SpillDir
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		b.mode = modeEmpty
	case req.GetBody != nil:
		b.mode, b.getBody = modeGetBody, req.GetBody
	case asFile(req.Body, b):
		b.mode = modeFile
	case !b.shared && canSeek(req.Body, b):
		b.mode = modeSeek
	default:
		b.mode = modeRecord
		return o.Limit >= 0 && req.ContentLength <= b.capacity()
	}
	return true
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

// errNilGetBody is the error of a GetBody that returned neither a body nor
// an error.
var errNilGetBody = errors.New("bodyreplay: GetBody returned a nil body and a nil error")

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
		rc, err := b.copy()
		if err != nil {
			return nil, err
		}
		return &watchedBody{ReadCloser: rc, b: b}, nil
	case modeFile:
		if first {
			return b.orig, nil // unwrapped: the transport may sendfile it
		}
		return b.nextFile()
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
	a := &attemptBody{b: b}
	b.mu.Lock()
	b.cur = a
	b.mu.Unlock()
	return a, nil
}

// copy returns a fresh copy of the body from GetBody.
func (b *Body) copy() (io.ReadCloser, error) {
	rc, err := b.getBody()
	if err == nil && rc == nil {
		err = errNilGetBody // net/http would panic reading it
	}
	if err != nil {
		return nil, errors.Join(errors.New("bodyreplay: GetBody failed"), err)
	}
	return rc, nil
}

// rewindWait is how long rewindNowOrLater waits for a read in flight: a
// read of a body in memory or on disk ends within it, and a rewind made now
// can still keep a retry from being sent when it fails; a read that stalls
// does not hold the retry longer than this.
const rewindWait = 100 * time.Millisecond

// rewindNowOrLater rewinds the caller's body now if no attempt is reading
// it, or once the read in flight ends within rewindWait; else it leaves the
// rewind to the next read, after the one in flight (and a rewind that fails
// then fails the next attempt instead of keeping it from being sent).
func (b *Body) rewindNowOrLater() error {
	b.mu.Lock()
	if inFlight := b.reading; inFlight != nil {
		b.mu.Unlock()
		t := time.NewTimer(rewindWait)
		select {
		case <-inFlight:
		case <-t.C:
		}
		t.Stop()
		b.mu.Lock()
	}
	if b.reading != nil { // still reading (it stalls), or another read began
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
	if b.mode == modeEmpty || b.mode == modeGetBody || b.mode == modeFile {
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
	return b.recorded < b.capacity()
}

// Err returns the first error that reading the caller's body (or a copy
// from GetBody) returned, other than io.EOF. A failure of the caller's own
// body is never a reason to retry. In the file mode, whose attempts read
// the file unwrapped, it is always nil.
func (b *Body) Err() error {
	if b.mode == modeEmpty || b.mode == modeFile {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srcErr
}

// Close ends the replay: the caller's body is closed now if the last
// attempt's body is closed already, or else as soon as it is, and so is the
// record's file. In the modes where each attempt's body is the caller's own
// or a fresh copy (GetBody, a reopened file), the RoundTripper closes them,
// and Close only releases the file mode's spare handle.
func (b *Body) Close() {
	if b.mode == modeFile {
		b.closeOnce.Do(func() { _ = b.spare.Close() })
		return
	}
	if b.mode != modeSeek && b.mode != modeRecord {
		return
	}
	b.mu.Lock()
	b.finished = true
	idle := b.idleLocked()
	b.mu.Unlock()
	if idle {
		b.closeOrig()
	}
}

// idleLocked reports whether no attempt body may read the caller's body
// any more: the current one is closed (an attempt cut off by Seal reads
// nothing more of it), or, in a Shared, all of them are.
func (b *Body) idleLocked() bool {
	if b.shared {
		return b.open == 0
	}
	return b.cur == nil || b.cur.closed.Load()
}

// closeOrig closes the caller's body and removes the record's file: no
// attempt reads either any more.
func (b *Body) closeOrig() {
	b.closeOnce.Do(func() {
		_ = b.orig.Close()
		b.mu.Lock()
		b.closeSpill()
		b.mu.Unlock()
	})
}
