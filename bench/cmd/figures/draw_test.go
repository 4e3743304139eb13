package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if err := os.WriteFile(filepath.Join(dir, "measured.txt"), []byte(when+"\n2 cores, go1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := draw(dir, out, "svg"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"throttling", "amplification", "replay", "overhead", "hedging"} {
		b, err := os.ReadFile(filepath.Join(out, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "measured 2026-12-01 21:00 UTC, 2 cores, go1.26") {
			t.Errorf("%s: not an SVG that says where and when", name)
		}
	}
}
