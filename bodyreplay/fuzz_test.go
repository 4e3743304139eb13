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
		if src.closes.Load() != 1 {
			t.Fatalf("caller's body closed %d times", src.closes.Load())
		}
		if b.SpillOpen() {
			t.Fatal("the record's file is still open")
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Fatalf("the record's file is still on disk: %v", left)
		}
	})
}
