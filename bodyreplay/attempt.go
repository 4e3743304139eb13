package bodyreplay

import (
	"context"
	"io"
	"sync/atomic"
)

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
	b   *Body
	ctx context.Context
	// Guarded by b.mu:
	pos        int64  // bytes of the body this attempt has read (modeRecord)
	superseded bool   // Seal cut this attempt off
	pending    []byte // bytes read for this attempt that the record does not hold
	eof        bool   // modeSeek: this attempt's pass reached the end
	closed     atomic.Bool

	// done is made by the first wait for a read, and closed by Close to
	// end it. Guarded by b.mu.
	done chan struct{}
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
			n, err := b.replay(p, a.pos) // what is recorded needs no wait
			a.pos += int64(n)
			return n, err
		}
		if b.reading == nil {
			if done, err := a.endOfData(); done {
				return 0, err
			}
			b.startFill(a, len(p))
		}
		// A read of the caller's body is in flight, ours or an older
		// attempt's: its bytes are ours next. Wait for it, for our Close,
		// or for our context.
		inFlight := b.reading
		if a.done == nil {
			a.done = make(chan struct{})
		}
		closed := a.done
		b.mu.Unlock()
		select {
		case <-inFlight:
		case <-closed:
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
func (a *attemptBody) endOfData() (done bool, err error) {
	b := a.b
	if b.mode == modeSeek {
		switch {
		case a.eof:
			return true, io.EOF
		case b.srcErr != nil:
			return true, b.srcErr
		}
		return false, nil
	}
	switch {
	case a.pos != b.consumed:
		// The record overflowed while this attempt was replaying it: the
		// bytes it needs next are gone. Never skip them.
		return true, ErrNotReplayable
	case b.srcErr != nil:
		return true, b.srcErr
	case b.srcEOF:
		return true, io.EOF
	}
	return false, nil
}

// fillSize bounds one read of the caller's body. A Read asks for what its
// caller's buffer holds (net/http's copy loop: 32 KiB); WriteTo asks for
// writeSize.
const fillSize = writeSize

// startFill starts one read of the caller's body, of up to size bytes, for
// owner, on a goroutine of its own so that owner can stop waiting for it.
// b.mu is held. In modeRecord a read never takes more than the record has
// room for, so that a read in flight cannot overflow a record that Seal
// promised to replay.
func (b *Body) startFill(owner *attemptBody, size int) {
	size = min(size, fillSize)
	if room := b.capacity() - b.recorded; b.mode == modeRecord && !b.overflow && room > 0 {
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
	b := a.b
	b.mu.Lock()
	if a.done != nil {
		close(a.done)
	}
	if b.shared {
		b.open--
	}
	last := b.finished && b.idleLocked()
	b.mu.Unlock()
	if last {
		b.closeOrig()
	}
	return nil
}

// writeSize is the buffer of WriteTo: the largest piece it hands the
// transport in one Write. writeStart is the buffer it starts with when it
// does not know how much is left.
const (
	writeSize  = 256 << 10
	writeStart = 32 << 10
)

// WriteTo writes the attempt's body to w (net/http's request writer uses
// it when a body has it) in pieces of up to writeSize, rather than the
// 32 KiB of the copy loop it replaces: a large body then takes a quarter of
// the system calls. A piece waits only for its first bytes; the rest is
// what is at hand (recorded, or read for this attempt), so a body that
// trickles is sent as it comes. Reads, stalls and errors are Read's.
//
// The buffer fits what is known to be left (the request's ContentLength,
// or a complete record), or else starts at writeStart, net/http's own, and
// grows to writeSize once a piece fills it: a small body costs no more
// than it would without WriteTo.
func (a *attemptBody) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, a.firstPiece())
	var written int64
	for {
		n, err := a.Read(buf)
		for err == nil && n < len(buf) && a.atHand() {
			var m int
			m, err = a.Read(buf[n:])
			n += m
		}
		if n > 0 {
			m, werr := w.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		if n == len(buf) && n < writeSize {
			buf = make([]byte, writeSize)
		}
		switch {
		case err == io.EOF:
			return written, nil
		case err != nil:
			return written, err
		}
	}
}

// firstPiece is the size of WriteTo's first buffer: one byte more than is
// known to be left, so that reading all of it does not fill the buffer,
// up to writeSize; writeStart when nothing is known.
func (a *attemptBody) firstPiece() int {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	left := int64(-1)
	switch {
	case b.mode == modeRecord && !b.overflow && b.srcEOF:
		left = b.recorded - a.pos
	case b.length > 0:
		left = b.length - a.pos
	}
	if left < 0 {
		return writeStart
	}
	return int(min(left+1, writeSize))
}

// atHand reports whether a's next Read returns at once, with bytes already
// read: pending ones, or the record's.
func (a *attemptBody) atHand() bool {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	return !a.closed.Load() && !a.superseded &&
		(len(a.pending) > 0 || b.mode == modeRecord && !b.overflow && a.pos < b.recorded)
}
