package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rtchain/rtchain/bench/figures"
)

// benchLine is one result line of go test -bench -benchmem.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ B/op\s+([\d.]+) allocs/op)?`)

// parseBench returns the median ns/op and allocs/op of each benchmark
// under prefix in text, in the order they first appear.
func parseBench(text, prefix string) ([]figures.Overhead, error) {
	ns, allocs := map[string][]float64{}, map[string][]float64{}
	var order []string
	for line := range strings.SplitSeq(text, "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || !strings.HasPrefix(m[1], prefix) {
			continue
		}
		name := strings.TrimPrefix(m[1], prefix)
		if _, seen := ns[name]; !seen {
			order = append(order, name)
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("figures: %q: %w", line, err)
		}
		ns[name] = append(ns[name], v)
		if m[3] != "" {
			a, _ := strconv.ParseFloat(m[3], 64)
			allocs[name] = append(allocs[name], a)
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("figures: no %s results in the benchmark output", prefix)
	}
	rows := make([]figures.Overhead, 0, len(order))
	for _, name := range order {
		rows = append(rows, figures.Overhead{Client: name, NsOp: median(ns[name]), AllocsOp: median(allocs[name]), Runs: len(ns[name])})
	}
	return rows, nil
}

// median is the middle of vs (the mean of the two middle ones for an even
// count); 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
