package bodyreplay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
)

// shared returns NewShared's Shared for req, which must be accepted, closed
// when the test ends.
func shared(t *testing.T, req *http.Request, o bodyreplay.Options) *bodyreplay.Shared {
	t.Helper()
	s, ok := bodyreplay.NewShared(req, o)
	require.True(t, ok, "NewShared refused the body")
	t.Cleanup(s.Close)
	return s
}

// readAllOf reads rc to its end in reads of random sizes, and returns what
// it read and the error that ended it (nil at EOF).
func readAllOf(rc io.Reader, seed uint64) ([]byte, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []byte
	buf := make([]byte, 40_000)
	for {
		n, err := rc.Read(buf[:1+rng.IntN(len(buf))])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// Every reader, started at once or late, reads the whole body, whatever
// kind it is; the caller's body is closed once, after the last reader and
// Close, and the record's file with it.
func TestSharedReadersEachReadTheWholeBody(t *testing.T) {
	data := patterned(300_000)
	for name, c := range map[string]struct {
		body   func(t *testing.T) io.Reader
		o      bodyreplay.Options
		spills bool
	}{
		"GetBody": {body: func(*testing.T) io.Reader { return bytes.NewReader(data) }, o: bodyreplay.Options{Limit: 10}},
		"file":    {body: func(t *testing.T) io.Reader { return tempFile(t, data) }, o: bodyreplay.Options{Limit: 10}},
		"seeker, recorded": {body: func(*testing.T) io.Reader { return &seekingCloser{Reader: bytes.NewReader(data)} },
			o: bodyreplay.Options{Limit: 1 << 20}},
		"record in memory": {body: func(*testing.T) io.Reader { return &countingCloser{Reader: bytes.NewReader(data)} },
			o: bodyreplay.Options{Limit: 1 << 20}},
		"record spilled": {body: func(*testing.T) io.Reader { return &countingCloser{Reader: bytes.NewReader(data)} },
			o: bodyreplay.Options{Limit: 64 << 10, SpillLimit: 1 << 20}, spills: true},
		"record exactly full": {body: func(*testing.T) io.Reader { return &countingCloser{Reader: bytes.NewReader(data)} },
			o: bodyreplay.Options{Limit: 64 << 10, SpillLimit: int64(len(data)) - 64<<10}, spills: true},
	} {
		t.Run(name, func(t *testing.T) {
			c.o.SpillDir = t.TempDir()
			body := c.body(t)
			req := request(t, body, -1)
			s := shared(t, req, c.o)
			first, err := s.Next()
			require.NoError(t, err)
			readers := []io.ReadCloser{first}
			got := make([][]byte, 4)
			var wg sync.WaitGroup
			start := func(i int, rc io.ReadCloser) {
				wg.Go(func() {
					var err error
					got[i], err = readAllOf(rc, uint64(i))
					assert.NoError(t, err, "reader %d", i)
				})
			}
			start(0, first)
			for i := 1; i < len(got); i++ {
				if i == len(got)-1 {
					wg.Wait() // the last one starts after the others have read it all
				}
				rc, err := s.Next()
				require.NoError(t, err, "reader %d", i)
				readers = append(readers, rc)
				start(i, rc)
			}
			wg.Wait()
			for i := range got {
				assert.True(t, bytes.Equal(data, got[i]), "reader %d read %d bytes that differ from the body's %d", i, len(got[i]), len(data))
			}
			assert.LessOrEqual(t, s.RecordCap(), int(max(c.o.Limit, 0)), "memory holds the limit at most")
			assert.Equal(t, c.spills, s.SpillOpen(), "the record's file")

			s.Close()
			src, counted := body.(interface{ closeCount() int32 })
			for _, rc := range readers[:len(readers)-1] {
				require.NoError(t, rc.Close())
			}
			if counted {
				assert.Zero(t, src.closeCount(), "a reader is still open")
			}
			require.NoError(t, readers[len(readers)-1].Close())
			if counted {
				require.NoError(t, readers[1].Close(), "closed twice")
			}
			s.Close()
			if counted {
				assert.Equal(t, int32(1), src.closeCount(), "the caller's body is closed once")
			}
			assert.False(t, s.SpillOpen(), "the record's file is closed")
			left, err := os.ReadDir(c.o.SpillDir)
			require.NoError(t, err)
			assert.Empty(t, left, "the record's file is removed")
		})
	}
}

func (c *countingCloser) closeCount() int32 { return c.closes.Load() }
func (c *seekingCloser) closeCount() int32  { return c.closes.Load() }

// A body that outgrows the record goes on whole in the reader that reads
// past it; a reader that lags behind fails rather than skip the bytes that
// were not kept, and no new reader is handed out. The record's memory and
// file go at once.
func TestSharedReaderPastTheRecord(t *testing.T) {
	data := patterned(500_000)
	src := &countingCloser{Reader: bytes.NewReader(data)}
	dir := t.TempDir()
	s := shared(t, request(t, src, -1), bodyreplay.Options{Limit: 64 << 10, SpillLimit: 100_000, SpillDir: dir})
	ahead, err := s.Next()
	require.NoError(t, err)
	behind, err := s.Next()
	require.NoError(t, err)
	require.Equal(t, data[:1000], readSome(t, behind, 1000, 300))

	got, err := readAllOf(ahead, 1)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "the reader ahead reads the whole body")
	assert.False(t, s.SpillOpen(), "the record is dropped")
	assert.Zero(t, s.RecordCap())

	part, err := readAllOf(behind, 2)
	require.ErrorIs(t, err, bodyreplay.ErrNotReplayable, "the reader behind gives way")
	assert.Empty(t, part, "nothing after the record is made up")
	_, err = s.Next()
	require.ErrorIs(t, err, bodyreplay.ErrNotReplayable)

	require.NoError(t, behind.Close())
	require.NoError(t, ahead.Close())
	s.Close()
	assert.Equal(t, int32(1), src.closes.Load())
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// A known length past both limits together, or a negative limit, cannot be
// shared: NewShared says so and touches nothing. Within them, it can.
func TestNewSharedRefusesWhatNoRecordHolds(t *testing.T) {
	for name, c := range map[string]struct {
		length int64
		o      bodyreplay.Options
		ok     bool
	}{
		"known length past memory and file": {300, bodyreplay.Options{Limit: 100, SpillLimit: 199}, false},
		"known length past memory, no file": {300, bodyreplay.Options{Limit: 299}, false},
		"negative limit":                    {-1, bodyreplay.Options{Limit: -1, SpillLimit: 1 << 20}, false},
		"known length that fits":            {300, bodyreplay.Options{Limit: 100, SpillLimit: 200}, true},
		"unknown length":                    {-1, bodyreplay.Options{Limit: 100}, true},
	} {
		t.Run(name, func(t *testing.T) {
			src := &countingCloser{Reader: bytes.NewReader(patterned(300))}
			req := request(t, src, c.length)
			s, ok := bodyreplay.NewShared(req, c.o)
			require.Equal(t, c.ok, ok)
			if !ok {
				assert.Nil(t, s)
				assert.Same(t, src, req.Body, "the request is not modified")
				n, _ := src.Read(make([]byte, 1000))
				assert.Equal(t, 300, n, "nothing was read")
				assert.Zero(t, src.closes.Load())
				return
			}
			s.Close()
		})
	}
}

// A failure of the caller's body ends every reader with it, after the bytes
// that came before it, and no new reader is handed out.
func TestSharedSourceFailsMidway(t *testing.T) {
	data := patterned(100_000)
	src := &countingCloser{Reader: &splitReader{data: data, failAt: 70_000, rng: rand.New(rand.NewPCG(1, 1))}}
	s := shared(t, request(t, src, -1), bodyreplay.Options{Limit: 50_000, SpillLimit: 1 << 20, SpillDir: t.TempDir()})
	first, err := s.Next()
	require.NoError(t, err)
	second, err := s.Next()
	require.NoError(t, err)
	for i, rc := range []io.ReadCloser{first, second} {
		got, err := readAllOf(rc, uint64(i))
		require.ErrorIs(t, err, errSource, "reader %d", i)
		assert.True(t, bytes.Equal(data[:70_000], got), "reader %d: the bytes before the failure", i)
		require.NoError(t, rc.Close())
	}
	_, err = s.Next()
	require.ErrorIs(t, err, bodyreplay.ErrNotReplayable)
}

// A reader waiting on a caller's body that stalls stops waiting when its
// context ends (Bind) or when it is closed; Next never waits; and Close,
// once every reader is closed, closes the caller's body, which ends the
// read stuck in it (goleak checks that nothing is left).
func TestSharedReadersNeverWaitPastTheirContext(t *testing.T) {
	src := newPipeBody()
	s := shared(t, request(t, src, -1), bodyreplay.Options{Limit: 1 << 20})
	first, err := s.Next()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	bodyreplay.Bind(first, ctx)
	go func() { _, _ = src.w.Write([]byte("hello ")) }()
	require.Equal(t, []byte("hello "), readSome(t, first, 6, 64))
	firstDone := readInFlight(t, first, src) // stalls in the caller's body

	var second io.ReadCloser
	within(t, "Next", func() {
		var err error
		second, err = s.Next()
		require.NoError(t, err)
	})
	require.Equal(t, []byte("hello "), readSome(t, second, 6, 64), "the record is read at once")
	secondDone := make(chan error, 1)
	go func() { _, err := second.Read(make([]byte, 64)); secondDone <- err }()

	cancel()
	within(t, "a read whose context ended", func() { assert.ErrorIs(t, <-firstDone, context.Canceled) })
	within(t, "Close", func() { require.NoError(t, second.Close()) })
	within(t, "a read of a closed reader", func() { assert.Error(t, <-secondDone) })
	_, err = second.Read(make([]byte, 8))
	assert.Error(t, err, "a read after Close")
	require.NoError(t, second.Close(), "closed twice")
	require.NoError(t, first.Close())
	within(t, "Close of the caller's body", s.Close)
	_, err = src.w.Write([]byte("x"))
	assert.ErrorIs(t, err, io.ErrClosedPipe, "the caller's body is closed")
}

// The caller's body is closed when Close has been called and every reader
// is closed, in whichever order, and once.
func TestSharedClosesTheCallersBodyAfterTheLastReader(t *testing.T) {
	for _, closeFirst := range []bool{true, false} {
		src := &countingCloser{Reader: strings.NewReader("payload")}
		s, ok := bodyreplay.NewShared(request(t, src, -1), bodyreplay.Options{Limit: 100})
		require.True(t, ok)
		a, err := s.Next()
		require.NoError(t, err)
		b, err := s.Next()
		require.NoError(t, err)
		if closeFirst {
			s.Close()
		}
		require.NoError(t, a.Close())
		assert.Zero(t, src.closes.Load(), "a reader is open")
		require.NoError(t, b.Close())
		require.NoError(t, b.Close())
		if !closeFirst {
			assert.Zero(t, src.closes.Load(), "more readers may be handed out")
			s.Close()
		}
		s.Close()
		assert.Equal(t, int32(1), src.closes.Load(), "closed once (Close first: %v)", closeFirst)
	}
}

// A GetBody that fails, or gives nothing, fails the reader asked for.
func TestSharedGetBodyFails(t *testing.T) {
	req := request(t, strings.NewReader("x"), -1)
	boom := errors.New("boom")
	req.GetBody = func() (io.ReadCloser, error) { return nil, boom }
	s := shared(t, req, bodyreplay.Options{})
	first, err := s.Next()
	require.NoError(t, err)
	assert.Equal(t, req.Body, first, "the first reader is the caller's body")
	_, err = s.Next()
	require.ErrorIs(t, err, boom)
	req.GetBody = func() (io.ReadCloser, error) { return nil, nil }
	s = shared(t, req, bodyreplay.Options{})
	_, _ = s.Next()
	_, err = s.Next()
	require.Error(t, err)
}

// A reader asked for while the reader ahead looks for the end of a full
// record is handed out when the body announced its length (the read can
// only find the end), and refused when it did not (the read may go past the
// record).
func TestSharedNextWhileTheEndIsRead(t *testing.T) {
	for name, length := range map[string]int64{"known length": 100, "unknown length": -1} {
		t.Run(name, func(t *testing.T) {
			src := newPipeBody()
			s := shared(t, request(t, src, length), bodyreplay.Options{Limit: 100})
			first, err := s.Next()
			require.NoError(t, err)
			data := patterned(100)
			go func() { _, _ = src.w.Write(data) }()
			require.Equal(t, data, readSome(t, first, 100, 64))
			firstDone := readInFlight(t, first, src) // looks for the end

			second, err := s.Next()
			if length < 0 {
				require.ErrorIs(t, err, bodyreplay.ErrNotReplayable)
				require.NoError(t, src.w.Close())
				require.ErrorIs(t, <-firstDone, io.EOF)
				require.NoError(t, first.Close())
				return
			}
			require.NoError(t, err)
			require.NoError(t, src.w.Close())
			require.ErrorIs(t, <-firstDone, io.EOF)
			got, err := readAllOf(second, 1)
			require.NoError(t, err)
			assert.Equal(t, data, got)
			require.NoError(t, first.Close())
			require.NoError(t, second.Close())
		})
	}
}
