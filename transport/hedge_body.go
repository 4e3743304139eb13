package transport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/rtchain/rtchain/bodyreplay"
)

// The bodies of a hedged call's attempts, which run at once: each attempt
// gets the whole body, also when a hedge starts while the first attempt is
// still uploading. A body with GetBody gets a copy per attempt; a regular
// file, a handle of its own per attempt (bodyreplay.Reopen, so that each
// can be handed to the kernel); any other body, a cursor on one shared
// record (sharedBody).

// hedgeBodies hands out the body of each attempt after the first.
type hedgeBodies interface {
	// next returns the next attempt's body, or false when no whole copy
	// can be had (the record outgrew its limit).
	next() (io.ReadCloser, bool)
	// end tells that no attempt will be sent any more.
	end()
}

// errHedgeBodyTooLarge ends the upload of a hedge whose body outgrew the
// record: another attempt has read on past it, and the bytes after it were
// not kept.
var errHedgeBodyTooLarge = errors.New("transport: hedge: request body outgrew HedgeOptions.BodyLimit; this attempt gives way to the one reading on")

// getBodies copies the body with GetBody.
type getBodies struct{ get func() (io.ReadCloser, error) }

func (g getBodies) next() (io.ReadCloser, bool) {
	b, err := g.get()
	return b, err == nil && b != nil // a nil body would panic net/http
}
func (getBodies) end() {}

// fileBodies reopens the caller's file for each hedge, from a spare handle
// taken before the first attempt (which may close the caller's own).
type fileBodies struct {
	spare *os.File
	start int64
}

// newFileBodies returns fileBodies for body if it is a regular file that
// can be opened again.
func newFileBodies(body io.ReadCloser) (*fileBodies, bool) {
	f, ok := body.(*os.File)
	if !ok {
		return nil, false
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, false
	}
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false
	}
	spare, err := bodyreplay.Reopen(f, start)
	if err != nil {
		return nil, false
	}
	return &fileBodies{spare: spare, start: start}, true
}

func (f *fileBodies) next() (io.ReadCloser, bool) {
	g, err := bodyreplay.Reopen(f.spare, f.start)
	return g, err == nil
}

func (f *fileBodies) end() { _ = f.spare.Close() }

// sharedBody is the record of a body that can be read once: the bytes read
// so far from the caller's body (src), up to limit, which every attempt's
// cursor reads from, and which any cursor that has read all of it extends
// (one read of src at a time). Past limit, the cursor whose read brought the
// first byte past it reads on alone, and the others end with
// errHedgeBodyTooLarge at the end of the record: no hedge starts after that.
//
// As bodyreplay does, src is read on a goroutine of its own, so that a
// cursor's Read stops waiting for a body that stalls when the cursor is
// closed or its attempt's context ends. src is closed once, when the call
// has ended and every cursor is closed (which ends a read stuck in it).
type sharedBody struct {
	mu      sync.Mutex
	src     io.ReadCloser
	limit   int64
	rec     []byte
	buf     []byte        // what a read of src reads into
	err     error         // src's last error (io.EOF at its end)
	pulling chan struct{} // closed when the read of src under way ends
	past    *cursor       // the cursor reading on past limit, if any
	open    int           // cursors not closed
	ended   bool
	closed  bool
}

// pullSize bounds one read of the caller's body.
const pullSize = 32 << 10

func newSharedBody(src io.ReadCloser, limit, length int64) *sharedBody {
	s := &sharedBody{src: src, limit: limit}
	if length > 0 && length <= limit {
		s.rec = make([]byte, 0, length)
	}
	return s
}

// cursor is one attempt's body. Its fields but done and ctx are guarded by
// s.mu.
type cursor struct {
	s       *sharedBody
	ctx     context.Context // the attempt's; nil for none
	done    chan struct{}   // closed by Close, to end a wait
	pos     int
	pending []byte // bytes past the record, read for this cursor alone
	closed  bool
}

func (s *sharedBody) cursor() *cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open++
	return &cursor{s: s, done: make(chan struct{})}
}

// bindBody ties body's reads to ctx when it is a cursor: set before the
// attempt starts.
func bindBody(body io.ReadCloser, ctx context.Context) {
	if c, ok := body.(*cursor); ok {
		c.ctx = ctx
	}
}

func (s *sharedBody) next() (io.ReadCloser, bool) {
	s.mu.Lock()
	past := s.past != nil
	s.mu.Unlock()
	if past {
		return nil, false
	}
	return s.cursor(), true
}

func (s *sharedBody) end() {
	s.mu.Lock()
	s.ended = true
	last := s.lastLocked()
	s.mu.Unlock()
	if last {
		_ = s.src.Close()
	}
}

// lastLocked reports whether src is to be closed now: the call has ended
// and no cursor is open. It reports true once.
func (s *sharedBody) lastLocked() bool {
	if s.ended && s.open == 0 && !s.closed {
		s.closed = true
		return true
	}
	return false
}

func (c *cursor) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var ctxDone <-chan struct{}
	if c.ctx != nil {
		ctxDone = c.ctx.Done()
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, http.ErrBodyReadAfterClose
		case c.ctx != nil && c.ctx.Err() != nil:
			return 0, c.ctx.Err()
		case len(c.pending) > 0:
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		case c.pos < len(s.rec):
			n := copy(p, s.rec[c.pos:])
			c.pos += n
			return n, nil
		case s.past != nil && s.past != c:
			return 0, errHedgeBodyTooLarge
		case s.err != nil:
			return 0, s.err
		}
		if s.pulling == nil {
			s.pull(c, len(p))
		}
		// A read of src is under way, c's or another cursor's: wait for it,
		// for Close, or for the attempt's context.
		wait := s.pulling
		s.mu.Unlock()
		select {
		case <-wait:
		case <-c.done:
		case <-ctxDone:
		}
		s.mu.Lock()
	}
}

// pull starts one read of src, of up to size bytes, for owner: into the
// record while it has room (never more than it has), or else for owner
// alone. s.mu is held.
func (s *sharedBody) pull(owner *cursor, size int) {
	size = min(size, pullSize)
	full := int64(len(s.rec)) >= s.limit
	if room := s.limit - int64(len(s.rec)); !full {
		size = int(min(int64(size), room))
	}
	if cap(s.buf) < size {
		s.buf = make([]byte, size)
	}
	done := make(chan struct{})
	s.pulling = done
	go s.fill(owner, s.buf[:size], full, done)
}

// fill reads src once into buf, and hands the bytes to the record or, past
// it, to owner (buf is not read into again before owner has taken them: only
// owner starts reads then, once its pending bytes are read).
func (s *sharedBody) fill(owner *cursor, buf []byte, full bool, done chan struct{}) {
	n, err := s.src.Read(buf)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case full && n > 0:
		s.past = owner
		owner.pending = buf[:n]
	default:
		s.rec = append(s.rec, buf[:n]...)
	}
	if err != nil {
		s.err = err
	}
	s.pulling = nil
	close(done)
}

// Close ends the cursor's reads, one waiting included, and never waits for
// a read of src.
func (c *cursor) Close() error {
	s := c.s
	s.mu.Lock()
	if c.closed {
		s.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	s.open--
	last := s.lastLocked()
	s.mu.Unlock()
	if last {
		_ = s.src.Close()
	}
	return nil
}
