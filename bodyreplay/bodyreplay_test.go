package bodyreplay_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
)

type countingCloser struct {
	io.Reader
	closes atomic.Int32
}

func (c *countingCloser) Close() error { c.closes.Add(1); return nil }

type seekingCloser struct {
	*bytes.Reader
	closes atomic.Int32
}

func (c *seekingCloser) Close() error { c.closes.Add(1); return nil }

func request(t *testing.T, body io.Reader, length int64) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://api.test/", body)
	require.NoError(t, err)
	if length >= 0 {
		req.ContentLength = length
	}
	return req
}

// patterned is n bytes that differ from one position to the next, so that a
// byte replayed at the wrong offset shows.
func patterned(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i % 251)
	}
	return data
}

// readSome reads n bytes of rc (or all of it, n < 0) in chunks of up to
// chunk bytes.
func readSome(t *testing.T, rc io.Reader, n, chunk int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, chunk)
	for n < 0 || len(out) < n {
		want := chunk
		if n >= 0 {
			want = min(chunk, n-len(out))
		}
		k, err := rc.Read(buf[:want])
		out = append(out, buf[:k]...)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
	}
	return out
}

func TestModes(t *testing.T) {
	data := []byte(strings.Repeat("abcdefgh", 64)) // 512 bytes
	for _, tc := range []struct {
		name       string
		req        func(t *testing.T) *http.Request
		limit      int64
		replayable bool
	}{
		{"GetBody", func(t *testing.T) *http.Request { return request(t, bytes.NewReader(data), -1) }, 16, true},
		{"seeker", func(t *testing.T) *http.Request {
			return request(t, &seekingCloser{Reader: bytes.NewReader(data)}, -1)
		}, 16, true},
		{"record within limit", func(t *testing.T) *http.Request {
			return request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0)
		}, 512, true},
		{"record past limit", func(t *testing.T) *http.Request {
			return request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0)
		}, 511, false},
		{"known length past limit", func(t *testing.T) *http.Request {
			return request(t, &countingCloser{Reader: bytes.NewReader(data)}, 512)
		}, 100, false},
		{"negative limit", func(t *testing.T) *http.Request {
			return request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0)
		}, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bodyreplay.New(tc.req(t), tc.limit)
			defer b.Close()
			first, err := b.Next()
			require.NoError(t, err)
			require.Equal(t, data, readSome(t, first, -1, 7))
			require.NoError(t, first.Close())
			require.Equal(t, tc.replayable, b.Seal())
			second, err := b.Next()
			if !tc.replayable {
				require.ErrorIs(t, err, bodyreplay.ErrNotReplayable)
				return
			}
			require.NoError(t, err)
			require.Equal(t, data, readSome(t, second, -1, 13))
			require.NoError(t, second.Close())
		})
	}
	t.Run("no body", func(t *testing.T) {
		b := bodyreplay.New(request(t, nil, -1), 10)
		for range 3 {
			rc, err := b.Next()
			require.NoError(t, err)
			assert.Nil(t, rc)
			assert.True(t, b.Seal())
		}
	})
}

// For any body, any split of reads and any point where an attempt stops,
// every replay yields the original bytes, and the record stays in the limit.
func TestReplayProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		scale := 5000
		if i%5 == 0 {
			scale = 150_000 // across several of the record's chunks
		}
		size := rng.IntN(scale)
		limit := int64(rng.IntN(scale * 6 / 5))
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.IntN(256))
		}
		src := &countingCloser{Reader: bytes.NewReader(data)}
		b := bodyreplay.New(request(t, src, 0), limit)

		replayable := true
		for attempt := 1; attempt <= 3; attempt++ {
			rc, err := b.Next()
			if !replayable {
				require.ErrorIs(t, err, bodyreplay.ErrNotReplayable, "case %d", i)
				break
			}
			require.NoError(t, err, "case %d", i)
			stop := -1 // the last attempt reads it all
			if attempt < 3 {
				stop = rng.IntN(size + 1)
			}
			got := readSome(t, rc, stop, 1+rng.IntN(scale/7))
			want := data
			if stop >= 0 {
				want = data[:stop]
			}
			require.True(t, bytes.Equal(want, got), "case %d attempt %d: bytes differ", i, attempt)
			require.LessOrEqual(t, int64(b.RecordCap()), max(limit, 0), "case %d: record above the limit", i)
			replayable = b.Seal()
			require.NoError(t, rc.Close())
		}
		b.Close()
		require.Equal(t, int32(1), src.closes.Load(), "case %d", i)
	}
}

func TestSealCutsOffTheOldAttempt(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1<<16)
	b := bodyreplay.New(request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0), 1<<20)
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	readSome(t, first, 100, 10)
	require.True(t, b.Seal())
	_, err = first.Read(make([]byte, 10))
	require.ErrorIs(t, err, bodyreplay.ErrSuperseded)
	second, err := b.Next()
	require.NoError(t, err)
	require.Equal(t, data, readSome(t, second, -1, 4096))
}

// A transport may still be reading the old attempt's body on another
// goroutine when the retry starts: the new attempt must get exact bytes.
func TestSealRacesWithAReader(t *testing.T) {
	data := patterned(1 << 20)
	for range 20 {
		b := bodyreplay.New(request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0), 2<<20)
		first, err := b.Next()
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Go(func() {
			buf := make([]byte, 512)
			for {
				if _, err := first.Read(buf); err != nil {
					return
				}
			}
		})
		second, err := b.Next()
		if errors.Is(err, bodyreplay.ErrNotReplayable) {
			t.Fatal("within the limit, a replay must be possible")
		}
		require.NoError(t, err)
		got := readSome(t, second, -1, 1000)
		wg.Wait()
		require.True(t, bytes.Equal(data, got))
		_ = first.Close()
		_ = second.Close()
		b.Close()
	}
}

func TestCallerBodyClosedOnceAfterLastAttempt(t *testing.T) {
	src := &countingCloser{Reader: strings.NewReader("payload")}
	b := bodyreplay.New(request(t, src, 0), 100)
	first, err := b.Next()
	require.NoError(t, err)
	b.Close()
	assert.Zero(t, src.closes.Load(), "the attempt's transport may still be reading")
	require.NoError(t, first.Close())
	require.NoError(t, first.Close())
	assert.Equal(t, int32(1), src.closes.Load())
	b.Close()
	assert.Equal(t, int32(1), src.closes.Load())
}

func TestCallerBodyError(t *testing.T) {
	boom := errors.New("boom")
	src := &countingCloser{Reader: io.MultiReader(strings.NewReader("abc"), &errReader{boom})}
	b := bodyreplay.New(request(t, src, 0), 100)
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	_, err = io.ReadAll(first)
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, b.Err(), boom)
	require.False(t, b.Seal(), "a failing body is not replayed")
	_, err = b.Next()
	require.ErrorIs(t, err, bodyreplay.ErrNotReplayable)
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

func TestGetBodyError(t *testing.T) {
	req := request(t, strings.NewReader("x"), -1)
	boom := errors.New("boom")
	req.GetBody = func() (io.ReadCloser, error) { return nil, boom }
	b := bodyreplay.New(req, 100)
	_, err := b.Next()
	require.NoError(t, err)
	_, err = b.Next()
	require.ErrorIs(t, err, boom)
}
