package bodyreplay_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
)

func TestSpillReplaysPastTheMemoryLimit(t *testing.T) {
	data := patterned(3<<20 + 17)
	dir := t.TempDir()
	src := &countingCloser{Reader: bytes.NewReader(data)}
	b := bodyreplay.NewWith(request(t, src, 0), bodyreplay.Options{Limit: 1 << 20, SpillLimit: 4 << 20, SpillDir: dir})

	first, err := b.Next()
	require.NoError(t, err)
	require.Equal(t, data, readSome(t, first, -1, 40_000))
	assert.LessOrEqual(t, b.RecordCap(), 1<<20, "memory holds the limit at most")
	assert.True(t, b.SpillOpen())
	require.True(t, b.Seal())
	for range 2 { // every retry gets the same bytes
		next, err := b.Next()
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, readSome(t, next, -1, 7_000)))
		require.NoError(t, next.Close())
	}
	require.NoError(t, first.Close())
	b.Close()
	assert.Equal(t, int32(1), src.closes.Load())
	assert.False(t, b.SpillOpen(), "the record's file is closed with the replay")
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "the record's file is removed")
}

func TestSpillPastItsLimitIsNotReplayed(t *testing.T) {
	data := patterned(3 << 20)
	b := bodyreplay.NewWith(request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0),
		bodyreplay.Options{Limit: 1 << 20, SpillLimit: 1 << 20, SpillDir: t.TempDir()})
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, readSome(t, first, -1, 32<<10)), "the first attempt streams it all")
	assert.False(t, b.SpillOpen(), "the file goes as soon as the record is dropped")
	require.False(t, b.Seal())
	_, err = b.Next()
	require.ErrorIs(t, err, bodyreplay.ErrNotReplayable)
}

// A known length past memory and disk together is streamed once, and no
// file is ever made for it.
func TestSpillKnownLengthPastCapacity(t *testing.T) {
	data := patterned(300)
	dir := t.TempDir()
	b := bodyreplay.NewWith(request(t, &countingCloser{Reader: bytes.NewReader(data)}, 300),
		bodyreplay.Options{Limit: 100, SpillLimit: 100, SpillDir: dir})
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	require.Equal(t, data, readSome(t, first, -1, 64))
	require.False(t, b.Seal())
	assert.False(t, b.SpillOpen())
}

// When the file cannot be made (no such directory, a full disk), the
// record is dropped: no retry, and the first attempt is not harmed.
func TestSpillFileFailureLosesNothing(t *testing.T) {
	data := patterned(200_000)
	src := &countingCloser{Reader: bytes.NewReader(data)}
	b := bodyreplay.NewWith(request(t, src, 0), bodyreplay.Options{
		Limit: 50_000, SpillLimit: 1 << 20, SpillDir: filepath.Join(t.TempDir(), "missing"),
	})
	first, err := b.Next()
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, readSome(t, first, -1, 10_000)))
	require.False(t, b.Seal())
	_, err = b.Next()
	require.ErrorIs(t, err, bodyreplay.ErrNotReplayable)
	require.NoError(t, first.Close())
	b.Close()
	assert.Equal(t, int32(1), src.closes.Load())
}

// A retry that starts while the old attempt is still reading (the
// transport's write loop) gets exact bytes across memory and file.
func TestSpillSealRacesWithAReader(t *testing.T) {
	data := patterned(1 << 20)
	for range 10 {
		b := bodyreplay.NewWith(request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0),
			bodyreplay.Options{Limit: 100_000, SpillLimit: 1 << 20, SpillDir: t.TempDir()})
		first, err := b.Next()
		require.NoError(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 3000)
			for {
				if _, err := first.Read(buf); err != nil {
					return
				}
			}
		}()
		second, err := b.Next()
		require.NoError(t, err)
		got := readSome(t, second, -1, 9000)
		<-done
		require.True(t, bytes.Equal(data, got))
		_ = first.Close()
		_ = second.Close()
		b.Close()
		require.False(t, b.SpillOpen())
	}
}
