//go:build !race

package transport_test

// raceEnabled reports whether the race detector is on: it allocates on its
// own, so allocation counts are not measured under it, and it slows the
// simulations of many thousand calls, whose heaviest rows run only without
// it (.ci/run runs the tests both ways).
const raceEnabled = false
