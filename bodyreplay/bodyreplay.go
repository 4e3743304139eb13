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
type Body struct {
	mode    mode
	orig    io.ReadCloser
	getBody func() (io.ReadCloser, error)
	seeker  io.Seeker
	start   int64 // the seeker's offset when New was called
	limit   int64
	handed  int // how many attempt bodies Next has returned

	// mu guards cur and finished; it is never held while reading.
	mu        sync.Mutex
	cur       *attemptBody
	finished  bool
	closeOnce sync.Once

	// readMu serialises every read of the caller's body and guards the
	// fields below.
	readMu sync.Mutex
	// chunks is the record: the first recorded bytes of the body, in
	// chunks of chunkSize (the last may be shorter), so that it grows
	// without copying and never holds more than the body.
	chunks   [][]byte
	recorded int64
	overflow bool // more than limit bytes were read; the record was dropped
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
// GetBody or Seek.
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
			if err := b.rewind(); err != nil {
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

func (b *Body) rewind() error {
	b.readMu.Lock()
	defer b.readMu.Unlock()
	if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
		b.srcErr = err
		return errors.Join(errors.New("bodyreplay: rewinding the body failed"), err)
	}
	return nil
}

// Seal cuts the current attempt's body off (its later reads fail with
// ErrSuperseded, and a read in progress is waited for) and reports whether
// a next attempt can be given the complete body. It may be called more than
// once.
func (b *Body) Seal() bool {
	if b.mode == modeEmpty || b.mode == modeGetBody {
		return true
	}
	b.mu.Lock()
	cur := b.cur
	b.mu.Unlock()
	if cur != nil {
		cur.superseded.Store(true)
	}
	b.readMu.Lock()
	defer b.readMu.Unlock()
	return b.srcErr == nil && !b.overflow
}

// Err returns the first error that reading the caller's body (or a copy
// from GetBody) returned, other than io.EOF. A failure of the caller's own
// body is never a reason to retry.
func (b *Body) Err() error {
	if b.mode == modeEmpty {
		return nil
	}
	b.readMu.Lock()
	defer b.readMu.Unlock()
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
		w.b.readMu.Lock()
		if w.b.srcErr == nil {
			w.b.srcErr = err
		}
		w.b.readMu.Unlock()
	}
	return n, err
}

// attemptBody is the body one attempt reads in modeSeek and modeRecord.
type attemptBody struct {
	b          *Body
	pos        int64 // bytes of the body this attempt has read
	superseded atomic.Bool
	closed     atomic.Bool
}

func (a *attemptBody) Read(p []byte) (int, error) {
	b := a.b
	b.readMu.Lock()
	defer b.readMu.Unlock()
	switch {
	case a.closed.Load():
		return 0, errClosed
	case a.superseded.Load():
		return 0, ErrSuperseded
	case len(p) == 0:
		return 0, nil
	}
	if b.mode == modeRecord {
		if !b.overflow && a.pos < b.recorded {
			n := b.replay(p, a.pos)
			a.pos += int64(n)
			return n, nil
		}
		if b.srcErr != nil {
			return 0, b.srcErr
		}
		if b.srcEOF {
			return 0, io.EOF
		}
	}
	n, err := b.orig.Read(p)
	if b.mode == modeRecord {
		b.record(p[:n])
		a.pos += int64(n)
	}
	switch {
	case err == io.EOF:
		b.srcEOF = true
	case err != nil:
		b.srcErr = err
	}
	return n, err
}

// Close marks this attempt's body closed. It never blocks on a read in
// progress, and closes the caller's body if the replay is over.
func (a *attemptBody) Close() error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	b := a.b
	b.mu.Lock()
	last := b.finished && b.cur == a
	b.mu.Unlock()
	if last {
		b.closeOrig()
	}
	return nil
}
