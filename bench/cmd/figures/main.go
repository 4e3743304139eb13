// Command figures measures what bench/README.md reports and draws it as
// SVG charts under docs/figures, with the data beside them
// (docs/figures/data). Run it from bench/:
//
//	cd bench && go run ./cmd/figures
//
// It runs the bench tests that save chart data (RTCHAIN_FIGURES set, no
// -race, so that the figures are the library's and not the race
// detector's) and BenchmarkOverhead -count 6, then draws. With -render it
// draws again from the saved data without measuring. It takes about three
// minutes on a 2-core machine, and five more for the overload chart
// (TestOverloadFigures). -only names the charts to measure and draw (comma-
// separated), leaving the others as they are:
//
//	cd bench && go run ./cmd/figures -only overload
//
// The text of every chart is laid out for the widest font a reader's
// browser may draw it in (widetext.go), and an SVG chart in which a text
// would still reach past the canvas, cross the data or another text is not
// written (fit.go); the test TestCommittedChartsFit checks the committed
// ones the same way.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rtchain/rtchain/bench/figures"
)

func main() {
	out := flag.String("out", "../docs/figures", "where the charts go")
	count := flag.Int("count", 6, "runs of each benchmark (the chart shows their median)")
	render := flag.Bool("render", false, "draw from the data saved under -out/data, measuring nothing")
	format := flag.String("format", "svg", "svg, or png (to look at)")
	onlyFlag := flag.String("only", "", "the charts to measure and draw, comma-separated (default: all)")
	flag.Parse()
	var only []string
	if *onlyFlag != "" {
		only = strings.Split(*onlyFlag, ",")
		for _, name := range only {
			if !slices.ContainsFunc(charts, func(c chartDef) bool { return c.name == name }) {
				log.Fatalf("figures: no chart %q", name)
			}
		}
	}
	log.SetFlags(0)
	if b, err := os.ReadFile("go.mod"); err != nil || !bytes.Contains(b, []byte("module github.com/rtchain/rtchain/bench\n")) {
		log.Fatal("figures: run it from bench/: cd bench && go run ./cmd/figures")
	}
	data := filepath.Join(*out, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		log.Fatal(err)
	}
	if !*render {
		if err := measure(data, *count, only); err != nil {
			log.Fatal(err)
		}
	}
	if err := draw(data, *out, *format, only...); err != nil {
		log.Fatal(err)
	}
}

// chartTests are the tests that measure each chart's data; overhead's is
// BenchmarkOverhead.
var chartTests = map[string]string{
	"throttling":    "TestThrottlingOverTime",
	"replay":        "TestBodyReplayBySize",
	"amplification": "TestOutageAmplification",
	"hedging":       "TestHedgeFigures",
	"overload":      "TestOverloadFigures",
}

// measure runs the tests and benchmarks that write the data of the charts
// named in only (all if none) into dir. measured.txt, the stamp of the
// charts that have no stamp of their own, is written only when every chart
// is measured.
func measure(dir string, count int, only []string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	want := func(name string) bool { return len(only) == 0 || slices.Contains(only, name) }
	env := append(os.Environ(), figures.EnvDir+"="+abs)
	var names []string
	for _, c := range charts {
		if t, ok := chartTests[c.name]; ok && want(c.name) {
			names = append(names, t)
		}
	}
	if len(names) > 0 {
		tests := exec.Command("go", "test", "-count=1", "-v", "-timeout", "30m",
			"-run", "^("+strings.Join(names, "|")+")$", ".")
		tests.Env, tests.Stdout, tests.Stderr = env, os.Stderr, os.Stderr
		log.Println("figures: running", strings.Join(tests.Args, " "))
		if err := tests.Run(); err != nil {
			return fmt.Errorf("figures: the tests that measure failed: %w", err)
		}
	}
	if len(only) > 0 {
		// Charts measured alone carry a stamp of their own: measured.txt
		// stays the stamp of the last run that measured them all.
		for _, c := range charts {
			if want(c.name) {
				if err := writeStamp(filepath.Join(abs, "measured-"+c.name+".txt")); err != nil {
					return err
				}
			}
		}
	} else {
		// A full run: no chart keeps a stamp of its own.
		for _, c := range charts {
			if err := os.Remove(filepath.Join(abs, "measured-"+c.name+".txt")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if !want("overhead") {
		return nil
	}
	bench := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkOverhead$", "-benchmem",
		fmt.Sprint("-count=", count), ".")
	var text bytes.Buffer
	bench.Env, bench.Stdout, bench.Stderr = env, &text, os.Stderr
	log.Println("figures: running", strings.Join(bench.Args, " "))
	if err := bench.Run(); err != nil {
		return fmt.Errorf("figures: BenchmarkOverhead failed: %w\n%s", err, text.String())
	}
	rows, err := parseBench(text.String(), "BenchmarkOverhead/")
	if err != nil {
		return err
	}
	if err := figures.SaveTo(abs, "overhead", rows); err != nil {
		return err
	}
	if len(only) > 0 {
		return nil
	}
	return writeStamp(filepath.Join(abs, "measured.txt"))
}

// writeStamp writes when and where a chart's data was measured to path.
func writeStamp(path string) error {
	return os.WriteFile(path, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"+figures.Machine()+"\n"), 0o644)
}
