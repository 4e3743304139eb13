package bodyreplay_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/rtchain/rtchain/bodyreplay"
)

// splitReader yields data in reads of random sizes, then fails at failAt
// (if it is within data) instead of reaching EOF.
type splitReader struct {
	data   []byte
	pos    int
	failAt int
	rng    *rand.Rand
}

var errSource = errors.New("source failed")

func (r *splitReader) Read(p []byte) (int, error) {
	end := len(r.data)
	if r.failAt >= 0 && r.failAt < end {
		end = r.failAt
	}
	if r.pos >= end {
		if end < len(r.data) {
			return 0, errSource
		}
		return 0, io.EOF
	}
	n := min(len(p), end-r.pos, 1+r.rng.IntN(4096))
	copy(p, r.data[r.pos:r.pos+n])
	r.pos += n
	return n, nil
}

// Run: go test -run '^$' -fuzz FuzzReplay -fuzztime 5m ./bodyreplay
func FuzzReplay(f *testing.F) {
	f.Add([]byte("hello, world"), int64(100), uint64(1), 5, -1)
	f.Add([]byte("hello, world"), int64(4), uint64(2), 12, -1)
	f.Add(bytes.Repeat([]byte("x"), 70_000), int64(65_536), uint64(3), 40_000, -1)
	f.Add(bytes.Repeat([]byte("y"), 5000), int64(10_000), uint64(4), 100, 3000)
	f.Add([]byte{}, int64(0), uint64(5), 0, -1)
	f.Add(bytes.Repeat([]byte("z"), 100_000), int64(10_000), uint64(200_001), 100_000, -1) // spills 90,000 bytes
	f.Add(bytes.Repeat([]byte("w"), 100_000), int64(10_000), uint64(100_001), 100_000, -1) // spill too small
	f.Fuzz(func(t *testing.T, data []byte, limit int64, seed uint64, stop, failAt int) {
		limit %= 1 << 20
		rng := rand.New(rand.NewPCG(seed, 0))
		src := &countingCloser{Reader: &splitReader{data: data, failAt: failAt, rng: rng}}
		// Odd seeds let the record spill to a file past limit.
		var spill int64
		dir := t.TempDir()
		if seed%2 == 1 {
			spill = int64(seed>>1) % (1 << 20)
		}
		b := bodyreplay.NewWith(request(t, src, 0), bodyreplay.Options{Limit: limit, SpillLimit: spill, SpillDir: dir})
		capacity := max(limit, 0)
		if limit > 0 && spill > 0 {
			capacity += spill
		}

		readUpTo := func(r io.Reader, n int) ([]byte, error) {
			var out []byte
			buf := make([]byte, 1+rng.IntN(9000))
			for n < 0 || len(out) < n {
				k := len(buf)
				if n >= 0 {
					k = min(k, n-len(out))
				}
				m, err := r.Read(buf[:k])
				out = append(out, buf[:m]...)
				if err != nil {
					return out, err
				}
			}
			return out, nil
		}
		first, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		got, rerr := readUpTo(first, stop)
		if !bytes.Equal(got, data[:len(got)]) {
			t.Fatal("attempt 1 read wrong bytes")
		}
		failed := rerr != nil && rerr != io.EOF
		if failed != errors.Is(b.Err(), errSource) {
			t.Fatalf("Err() = %v after a read error %v", b.Err(), rerr)
		}
		if c := int64(b.RecordCap()); c > max(limit, 0) {
			t.Fatalf("record holds %d bytes, limit %d", c, limit)
		}
		replayable := b.Seal()
		if want := !failed && int64(len(got)) <= capacity; replayable != want {
			t.Fatalf("Seal() = %v after reading %d of %d bytes with limit %d, spill %d (failed %v)", replayable, len(got), len(data), limit, spill, failed)
		}
		_ = first.Close()
		second, err := b.Next()
		if !replayable {
			if !errors.Is(err, bodyreplay.ErrNotReplayable) {
				t.Fatalf("Next() = %v, want ErrNotReplayable", err)
			}
			b.Close()
			if b.SpillOpen() {
				t.Fatal("the record's file is still open")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		all, err := readUpTo(second, -1)
		want := data
		if failAt >= 0 && failAt < len(data) {
			want = data[:failAt]
			if !errors.Is(err, errSource) {
				t.Fatalf("replay ended with %v, want the source's error", err)
			}
		} else if err != io.EOF {
			t.Fatalf("replay ended with %v", err)
		}
		if !bytes.Equal(all, want) {
			t.Fatalf("replay sent %d bytes that differ from the %d original ones", len(all), len(want))
		}
		if c := int64(b.RecordCap()); c > max(limit, 0) {
			t.Fatalf("record holds %d bytes, limit %d", c, limit)
		}
		_ = second.Close()
		b.Close()
		checkReleased(t, src, b.SpillOpen(), dir)
	})
}

// checkReleased fails t unless the caller's body src was closed once, and
// the record's file is closed (spillOpen false) and gone from dir.
func checkReleased(t *testing.T, src *countingCloser, spillOpen bool, dir string) {
	t.Helper()
	if src.closes.Load() != 1 {
		t.Fatalf("caller's body closed %d times", src.closes.Load())
	}
	if spillOpen {
		t.Fatal("the record's file is still open")
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Fatalf("the record's file is still on disk: %v", left)
	}
}

// Readers of a Shared, read in turns in any order, each read a prefix of
// the body, and it all (or up to the source's failure) unless another read
// past the record; a reader never skips a byte, and memory stays within the
// limit.
//
// Run: go test -run '^$' -fuzz FuzzShared -fuzztime 5m ./bodyreplay
func FuzzShared(f *testing.F) {
	f.Add([]byte("hello, world"), int64(100), int64(0), uint64(1), -1)
	f.Add([]byte("hello, world"), int64(4), int64(0), uint64(2), -1)
	f.Add(bytes.Repeat([]byte("x"), 70_000), int64(65_536), int64(10_000), uint64(3), -1)
	f.Add(bytes.Repeat([]byte("y"), 5000), int64(10_000), int64(0), uint64(4), 3000)
	f.Add([]byte{}, int64(0), int64(0), uint64(5), -1)
	f.Add(bytes.Repeat([]byte("z"), 100_000), int64(10_000), int64(90_000), uint64(6), -1) // exactly full
	f.Add(bytes.Repeat([]byte("w"), 100_000), int64(10_000), int64(50_000), uint64(7), 80_000)
	f.Fuzz(checkShared)
}

func checkShared(t *testing.T, data []byte, limit, spill int64, seed uint64, failAt int) {
	{
		limit %= 1 << 20
		spill %= 1 << 20
		rng := rand.New(rand.NewPCG(seed, 1))
		src := &countingCloser{Reader: &splitReader{data: data, failAt: failAt, rng: rng}}
		dir := t.TempDir()
		s, ok := bodyreplay.NewShared(request(t, src, -1), bodyreplay.Options{Limit: limit, SpillLimit: spill, SpillDir: dir})
		if !ok {
			if limit >= 0 {
				t.Fatalf("NewShared refused a body of unknown length with limit %d", limit)
			}
			return
		}
		capacity := max(limit, 0)
		if limit > 0 && spill > 0 {
			capacity += spill
		}
		want, wantErr := data, error(nil)
		if failAt >= 0 && failAt < len(data) {
			want, wantErr = data[:failAt], errSource
		}
		fits := int64(len(want)) <= capacity

		type reader struct {
			rc   io.ReadCloser
			got  []byte
			err  error
			done bool
		}
		var readers []*reader
		next := func() {
			rc, err := s.Next()
			if err != nil {
				if fits && wantErr == nil {
					t.Fatalf("Next() = %v for a body that fits the record", err)
				}
				return
			}
			readers = append(readers, &reader{rc: rc})
		}
		next()
		next()
		late := rng.IntN(20)
		buf := make([]byte, 9000)
		for step := 0; ; step++ {
			if step == late {
				next()
			}
			var open []*reader
			for _, r := range readers {
				if !r.done {
					open = append(open, r)
				}
			}
			if len(open) == 0 && step > late {
				break
			}
			if len(open) == 0 {
				continue
			}
			r := open[rng.IntN(len(open))]
			n, err := r.rc.Read(buf[:1+rng.IntN(len(buf))])
			r.got = append(r.got, buf[:n]...)
			if err != nil {
				r.err, r.done = err, true
			}
			if c := int64(s.RecordCap()); c > max(limit, 0) {
				t.Fatalf("record holds %d bytes, limit %d", c, limit)
			}
		}
		whole := 0
		for i, r := range readers {
			if !bytes.Equal(r.got, want[:min(len(r.got), len(want))]) || len(r.got) > len(want) {
				t.Fatalf("reader %d read %d bytes that are not the body's first", i, len(r.got))
			}
			switch {
			case r.err == io.EOF && wantErr == nil, errors.Is(r.err, wantErr) && wantErr != nil:
				if len(r.got) != len(want) {
					t.Fatalf("reader %d ended with %v after %d of %d bytes", i, r.err, len(r.got), len(want))
				}
				whole++
			case errors.Is(r.err, bodyreplay.ErrNotReplayable):
				if fits {
					t.Fatalf("reader %d gave way though the body fits the record", i)
				}
			default:
				t.Fatalf("reader %d ended with %v", i, r.err)
			}
			_ = r.rc.Close()
		}
		if whole == 0 || fits && whole != len(readers) {
			t.Fatalf("%d of %d readers read the whole body (fits: %v)", whole, len(readers), fits)
		}
		s.Close()
		checkReleased(t, src, s.SpillOpen(), dir)
	}
}
