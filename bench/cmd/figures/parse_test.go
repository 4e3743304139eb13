package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseBenchTakesMedians(t *testing.T) {
	out := `goos: linux
BenchmarkOverhead/bare-2         	 8851090	       100.0 ns/op	     144 B/op	       1 allocs/op
BenchmarkOverhead/rtchain-2      	 1000000	       300.0 ns/op	     608 B/op	       5 allocs/op
BenchmarkOverhead/bare-2         	 8851090	       120.0 ns/op	     144 B/op	       1 allocs/op
BenchmarkOverhead/rtchain-2      	 1000000	       200.0 ns/op	     608 B/op	       5 allocs/op
BenchmarkOverhead/bare-2         	 8851090	       90.0 ns/op	     144 B/op	       1 allocs/op
BenchmarkOverhead/rtchain-2      	 1000000	       250.0 ns/op	     608 B/op	       5 allocs/op
BenchmarkOther/x-2               	 1000000	       1.0 ns/op
PASS`
	rows, err := parseBench(out, "BenchmarkOverhead/")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Client != "bare" || rows[1].Client != "rtchain" {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].NsOp != 100 || rows[1].NsOp != 250 || rows[1].AllocsOp != 5 || rows[1].Runs != 3 {
		t.Errorf("rows %+v, want medians 100 and 250 ns, 5 allocs, 3 runs", rows)
	}
	if _, err := parseBench("PASS", "BenchmarkOverhead/"); err == nil {
		t.Error("no results: no error")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{5, 1, 3}, 3}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
