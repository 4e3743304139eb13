package bodyreplay_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
)

// splitWriter notes the size of each Write.
type splitWriter struct {
	bytes.Buffer
	writes []int
}

func (w *splitWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// WriteTo (what net/http's request writer uses) sends the same bytes as
// Read, on the first attempt and on each replay, from memory, from the
// spill file, and past the record, in pieces larger than the 32 KiB of a
// copy loop.
func TestWriteToSendsTheWholeBodyInLargePieces(t *testing.T) {
	for name, c := range map[string]struct {
		size         int
		o            bodyreplay.Options
		replayable   bool
		seekableBody bool
	}{
		"record in memory":  {3<<20 + 5, bodyreplay.Options{Limit: 4 << 20}, true, false},
		"record and spill":  {3<<20 + 5, bodyreplay.Options{Limit: 1 << 20, SpillLimit: 4 << 20}, true, false},
		"past the record":   {3<<20 + 5, bodyreplay.Options{Limit: 1 << 20}, false, false},
		"a seeker":          {3<<20 + 5, bodyreplay.Options{Limit: 1 << 20}, true, true},
		"empty":             {0, bodyreplay.Options{Limit: 1 << 20}, true, false},
		"one byte past 32K": {32<<10 + 1, bodyreplay.Options{Limit: 1 << 20}, true, false},
	} {
		t.Run(name, func(t *testing.T) {
			data := patterned(c.size)
			var src io.Reader = &countingCloser{Reader: bytes.NewReader(data)}
			if c.seekableBody {
				src = &seekingCloser{Reader: bytes.NewReader(data)}
			}
			c.o.SpillDir = t.TempDir()
			b := bodyreplay.NewWith(request(t, src, 0), c.o)
			defer b.Close()
			for attempt := 1; attempt <= 2; attempt++ {
				body, err := b.Next()
				require.NoError(t, err)
				wt, ok := body.(io.WriterTo)
				require.True(t, ok, "attempt %d: no WriteTo", attempt)
				var w splitWriter
				n, err := wt.WriteTo(&w)
				require.NoError(t, err)
				assert.Equal(t, int64(c.size), n)
				require.True(t, bytes.Equal(data, w.Bytes()), "attempt %d: the whole body, in order", attempt)
				if c.size > 1<<20 {
					assert.Less(t, len(w.writes), c.size/(64<<10), "attempt %d: pieces larger than 64 KiB (%d writes)", attempt, len(w.writes))
				}
				require.NoError(t, body.Close())
				if !c.replayable {
					assert.False(t, b.Seal(), "a body past its record is not replayed")
					return
				}
				require.True(t, b.Seal())
			}
		})
	}
}

// A body that trickles is sent as it comes: WriteTo hands on the bytes it
// has rather than wait to fill its buffer.
func TestWriteToDoesNotHoldBackABodyThatTrickles(t *testing.T) {
	pr, pw := io.Pipe()
	b := bodyreplay.NewWith(request(t, pr, 0), bodyreplay.Options{Limit: 1 << 20})
	defer b.Close()
	body, err := b.Next()
	require.NoError(t, err)
	got := make(chan []byte, 1)
	w := &chanWriter{got: got}
	done := make(chan error, 1)
	go func() {
		_, err := body.(io.WriterTo).WriteTo(w)
		done <- err
	}()
	_, err = pw.Write([]byte("first"))
	require.NoError(t, err)
	assert.Equal(t, "first", string(<-got), "the first bytes go out before the next arrive")
	_, _ = pw.Write([]byte("second"))
	assert.Equal(t, "second", string(<-got))
	require.NoError(t, pw.Close())
	require.NoError(t, <-done)
	require.NoError(t, body.Close())
}

type chanWriter struct{ got chan []byte }

func (w *chanWriter) Write(p []byte) (int, error) {
	w.got <- bytes.Clone(p)
	return len(p), nil
}

// A small body's record holds what it needs, not a whole chunk: its
// announced length, or what came. A body that passes the length it
// announced is still recorded and replayed whole.
func TestRecordHoldsWhatTheBodyNeeds(t *testing.T) {
	for name, c := range map[string]struct {
		size, length int
		capacity     int
	}{
		"known length":               {5000, 5000, 5000},
		"unknown length":             {5000, 0, 5000},
		"longer than announced":      {100_000, 100, 4 * (32 << 10)}, // whole chunks: the cut one grew
		"shorter than announced":     {3000, 5000, 5000},
		"past a chunk, known length": {70_000, 70_000, 70_000},
	} {
		t.Run(name, func(t *testing.T) {
			data := patterned(c.size)
			b := bodyreplay.New(request(t, &countingCloser{Reader: bytes.NewReader(data)}, int64(c.length)), 1<<20)
			defer b.Close()
			first, err := b.Next()
			require.NoError(t, err)
			var got bytes.Buffer
			_, err = first.(io.WriterTo).WriteTo(&got)
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, got.Bytes()))
			assert.Equal(t, c.capacity, b.RecordCap())
			require.True(t, b.Seal())
			second, err := b.Next()
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, readSome(t, second, -1, 1000)), "the replay")
		})
	}
}
