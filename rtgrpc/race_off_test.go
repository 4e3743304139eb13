//go:build !race

package rtgrpc_test

// raceEnabled reports whether the race detector is on: it allocates on its
// own, so allocation counts are not measured under it.
const raceEnabled = false
