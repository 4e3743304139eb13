package bodyreplay_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
)

func tempFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// The first attempt gets the caller's *os.File itself, so that the
// transport can sendfile it; a retry gets a handle of its own, from the
// offset the file had, that the old attempt's reads cannot move.
func TestFileFirstAttemptUnwrapped(t *testing.T) {
	data := patterned(100_000)
	f := tempFile(t, data)
	_, err := f.Seek(10, io.SeekStart) // the body starts where the caller left the file
	require.NoError(t, err)
	b := bodyreplay.New(request(t, f, -1), 1<<20)

	first, err := b.Next()
	require.NoError(t, err)
	assert.Same(t, f, first, "the first attempt's body is the caller's file")
	part := readSome(t, first, 500, 100)
	require.Equal(t, data[10:510], part)
	require.True(t, b.Seal())

	second, err := b.Next()
	require.NoError(t, err)
	g, ok := second.(*os.File)
	require.True(t, ok, "a retry's body is a file too")
	assert.NotSame(t, f, g)
	// The old attempt goes on reading (net/http's write loop): the retry's
	// offset is its own.
	readSome(t, first, 1000, 333)
	require.Equal(t, data[10:], readSome(t, second, -1, 4096))
	require.NoError(t, second.Close())
	require.NoError(t, first.Close()) // the transport closes the caller's file

	third, err := b.Next()
	require.NoError(t, err)
	require.Equal(t, data[10:], readSome(t, third, -1, 4096))
	require.NoError(t, third.Close())
	b.Close()
	_, err = b.Next()
	require.Error(t, err, "after Close, no handle is left to reopen from")
}

// On Linux a file removed after it was opened (a common way to stage an
// upload) can still be opened again through /proc.
func TestFileRemovedAfterOpen(t *testing.T) {
	data := patterned(5000)
	f := tempFile(t, data)
	b := bodyreplay.New(request(t, f, -1), 1<<20)
	defer b.Close()
	require.NoError(t, os.Remove(f.Name()))
	first, err := b.Next()
	require.NoError(t, err)
	require.NoError(t, first.Close())
	second, err := b.Next()
	if err != nil {
		t.Skipf("this system cannot reopen a removed file: %v", err)
	}
	require.Equal(t, data, readSome(t, second, -1, 1000))
	require.NoError(t, second.Close())
}

// A pipe is an *os.File that cannot seek: it is recorded, like any stream.
func TestFilePipeIsRecorded(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	data := patterned(3000)
	go func() {
		_, _ = w.Write(data)
		_ = w.Close()
	}()
	b := bodyreplay.New(request(t, r, -1), 1<<20)
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	_, isFile := first.(*os.File)
	assert.False(t, isFile)
	require.Equal(t, data, readSome(t, first, -1, 1000))
	require.True(t, b.Seal())
	second, err := b.Next()
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, readSome(t, second, -1, 1000)))
	require.NoError(t, second.Close())
	require.NoError(t, first.Close())
}
