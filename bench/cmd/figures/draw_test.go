package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"

	"github.com/rtchain/rtchain/bench/figures"
)

// Every chart is drawn from saved data, and says on its face where and
// when that data was measured.
func TestDrawEveryChart(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	save := func(name string, v any) {
		if err := figures.SaveTo(dir, name, v); err != nil {
			t.Fatal(err)
		}
	}
	save("throttling", figures.Throttling{Limit: 20, Burst: 10, Calls: 3, Clients: []figures.Throttled{
		{Client: "rtchain", Sent: []float64{0, 0.4, 1.2}, Status: []int{200, 429, 200}}}})
	save("amplification", []figures.Amplified{{Client: "rtchain", Ratio: 0.03}, {Client: "peer", Ratio: 4}})
	save("replay", []figures.Replayed{{Client: "rtchain", SizeMiB: []float64{1, 4}, PeakMiB: []float64{1, 1.1}}})
	save("overhead", []figures.Overhead{{Client: "bare", NsOp: 80, AllocsOp: 1, Runs: 6}})
	save("hedging", []figures.Hedged{{Client: "rtchain", LatencyMs: []float64{1, 1, 2, 300}, ExtraShare: 0.05}})
	when := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC).Format(time.RFC3339)
	save("overload", figures.Overload{Slots: 4, ServiceMs: 10, DeadlineMs: 500, BinMs: 100,
		Phases:   []figures.OverloadPhase{{Load: 0, Seconds: 0.3}, {Load: 0.5, Seconds: 0.2}},
		Measured: when, Machine: "2 cores, go1.26", Commit: "abc123",
		Rows: []figures.OverloadRow{
			{Server: "shed 503", Client: "bare", Load: 3, ServedByEnd: []int{40, 40, 40, 20, 20, 0, 0, 0, 0, 0, 0}},
			{Server: "shed 503", Client: "rtchain NewClient", Load: 10, ServedByEnd: []int{4, 4, 4, 20, 20, 0, 0, 0, 0, 0, 0}},
		}})
	if err := os.WriteFile(filepath.Join(dir, "measured.txt"), []byte(when+"\n2 cores, go1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := draw(dir, out, "svg"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"throttling", "amplification", "replay", "overhead", "hedging", "overload"} {
		b, err := os.ReadFile(filepath.Join(out, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "measured 2026-12-01 21:00 UTC, 2 cores, go1.26") {
			t.Errorf("%s: not an SVG that says where and when", name)
		}
	}
}

// The overload chart's title and stamp are wrapped to the canvas: no line
// is wider than the width it is given.
func TestFitTextWraps(t *testing.T) {
	long := strings.Repeat("a title that goes on and on ", 20)
	b := fitText([]string{long, "short"}, font.From(plot.DefaultFont, 11), 4*vg.Inch)
	if len(b.lines) < 3 || b.lines[len(b.lines)-1] != "short" {
		t.Fatalf("lines %q", b.lines)
	}
	for _, l := range b.lines {
		if w := b.style.Width(l); w > 4*vg.Inch {
			t.Errorf("%q is %v wide, more than %v", l, w, 4*vg.Inch)
		}
	}
	if got := strings.Join(b.lines[:len(b.lines)-1], " "); got != strings.TrimSpace(long) {
		t.Errorf("wrapping lost words: %q", got)
	}
}

// A chart measured alone carries its own stamp; the others keep the stamp
// of the last run that measured them all.
func TestReadStampPrefersTheChartsOwn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "measured.txt"), []byte("2026-12-01T21:14:06Z\nall\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "measured-amplification.txt"), []byte("2026-12-06T22:00:00Z\nalone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"amplification": "measured 2026-12-06 22:00 UTC, alone", "replay": "measured 2026-12-01 21:14 UTC, all"} {
		got, err := readStamp(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: stamp %q, want it to begin %q", name, got, want)
		}
	}
}
