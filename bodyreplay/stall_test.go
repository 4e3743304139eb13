package bodyreplay_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/bodyreplay"
)

// within fails the test unless f returns within a generous bound: what it
// checks is that f does not wait for the caller's stalled body.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s waited on the caller's stalled body", what)
	}
}

// pipeBody is a caller's body that the test feeds: reads of it block until
// the test writes. Each Read announces itself on reads first.
type pipeBody struct {
	*io.PipeReader
	w     *io.PipeWriter
	reads chan struct{}
}

func newPipeBody() *pipeBody {
	r, w := io.Pipe()
	return &pipeBody{r, w, make(chan struct{}, 100)}
}

func (p *pipeBody) Read(b []byte) (int, error) {
	p.reads <- struct{}{}
	return p.PipeReader.Read(b)
}

// readInFlight starts a read of rc that stalls in the caller's body, and
// returns its error when it ends.
func readInFlight(t *testing.T, rc io.Reader, src *pipeBody) <-chan error {
	t.Helper()
	for len(src.reads) > 0 { // forget the reads that came back already
		<-src.reads
	}
	done := make(chan error, 1)
	go func() { _, err := rc.Read(make([]byte, 64)); done <- err }()
	select {
	case <-src.reads:
	case <-time.After(5 * time.Second):
		t.Fatal("the read never reached the caller's body")
	}
	return done
}

// Neither Seal nor Next waits for an attempt stuck reading the caller's
// body, and the new attempt's Close ends its own wait for that read.
func TestSealAndNextNeverWaitOnTheCallersBody(t *testing.T) {
	src := newPipeBody()
	b := bodyreplay.New(request(t, src, 0), 1<<20)
	first, err := b.Next()
	require.NoError(t, err)
	go func() { _, _ = src.w.Write([]byte("hello ")) }()
	require.Equal(t, []byte("hello "), readSome(t, first, 6, 64))

	firstDone := readInFlight(t, first, src) // stalls

	var second io.ReadCloser
	within(t, "Next", func() {
		var err error
		second, err = b.Next()
		require.NoError(t, err)
	})
	require.Equal(t, []byte("hello "), readSome(t, second, 6, 64), "the record is replayed at once")

	secondDone := make(chan error, 1)
	secondWaits := make(chan struct{})
	go func() {
		close(secondWaits)
		_, err := second.Read(make([]byte, 64)) // waits for the first's read
		secondDone <- err
	}()
	<-secondWaits
	within(t, "Close", func() { require.NoError(t, second.Close()) })
	within(t, "the new attempt's Read after its Close", func() { assert.Error(t, <-secondDone) })

	within(t, "Close of the caller's body", b.Close)
	assert.ErrorIs(t, <-firstDone, bodyreplay.ErrSuperseded, "the old attempt's read ends with the caller's body")
}

// Bytes that an old attempt's read returns after Seal are not lost: they go
// to the next attempt, in order.
func TestBytesReadAfterSealGoToTheNextAttempt(t *testing.T) {
	src := newPipeBody()
	b := bodyreplay.New(request(t, src, 0), 1<<20)
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	go func() { _, _ = src.w.Write([]byte("abc")) }()
	require.Equal(t, []byte("abc"), readSome(t, first, 3, 64))

	firstDone := readInFlight(t, first, src)
	second, err := b.Next()
	require.NoError(t, err)
	go func() {
		_, _ = src.w.Write([]byte("def"))
		_, _ = src.w.Write([]byte("ghi"))
		_ = src.w.Close()
	}()
	assert.ErrorIs(t, <-firstDone, bodyreplay.ErrSuperseded)
	assert.Equal(t, []byte("abcdefghi"), readSome(t, second, -1, 2))
	require.NoError(t, first.Close())
	require.NoError(t, second.Close())
}

// When the body cannot be replayed, Seal says so and cuts nothing: the
// attempt in flight (whose response the caller will get) streams on whole.
func TestSealLeavesAnUnreplayableAttemptIntact(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 1000))
	b := bodyreplay.New(request(t, &countingCloser{Reader: bytes.NewReader(data)}, 0), 100)
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	got := readSome(t, first, 500, 64) // past the limit: the record is gone
	require.False(t, b.Seal())
	rest, err := io.ReadAll(first)
	require.NoError(t, err, "Seal cut an attempt it could not replay")
	assert.Equal(t, data, append(got, rest...))
}

// A record exactly full while a read is in flight could overflow: Seal does
// not promise a replay it might not keep.
func TestSealWithAFullRecordAndAReadInFlight(t *testing.T) {
	src := newPipeBody()
	b := bodyreplay.New(request(t, src, 0), 4)
	defer b.Close()
	first, err := b.Next()
	require.NoError(t, err)
	go func() { _, _ = src.w.Write([]byte("abcd")) }()
	require.Equal(t, []byte("abcd"), readSome(t, first, 4, 64))
	firstDone := readInFlight(t, first, src)
	require.False(t, b.Seal(), "the read in flight could overflow the record")
	go func() { _, _ = src.w.Write([]byte("e")); _ = src.w.Close() }()
	require.NoError(t, <-firstDone, "the attempt was not cut")
	require.NoError(t, first.Close())
}
