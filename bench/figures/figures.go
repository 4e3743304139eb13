// Package figures carries the measurements that bench's tests and
// benchmarks make to the charts that cmd/figures draws from them: the data
// types, and where they are kept. A test saves its data when the
// environment variable RTCHAIN_FIGURES names a directory (cmd/figures sets
// it), and does nothing otherwise.
package figures

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// EnvDir is the environment variable that names the directory the data
// goes to.
const EnvDir = "RTCHAIN_FIGURES"

// Enabled reports whether data is being collected.
func Enabled() bool { return os.Getenv(EnvDir) != "" }

// Save writes v as name.json into $RTCHAIN_FIGURES, if it is set.
func Save(name string, v any) error {
	if dir := os.Getenv(EnvDir); dir != "" {
		return SaveTo(dir, name, v)
	}
	return nil
}

// SaveTo writes v as name.json into dir.
func SaveTo(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644)
}

// Load reads name.json from dir into v.
func Load(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("figures: %s: %w", name, err)
	}
	return nil
}

// Throttled is one client's run of the throttling workload: when each
// request left (seconds since the run began), and its status (0 for an
// error).
type Throttled struct {
	Client string
	Sent   []float64
	Status []int
}

// Throttling is the throttling workload: an origin that admits Limit
// requests a second (a token bucket of Burst), and each client's requests.
type Throttling struct {
	Limit, Burst float64
	Calls        int
	Clients      []Throttled
}

// Amplified is how many requests a server in an outage saw per call of one
// client.
type Amplified struct {
	Client string
	Ratio  float64
}

// Replayed is one client's peak heap (MiB) for a PUT of each body size
// (MiB), answered 503 and then 200.
type Replayed struct {
	Client  string
	SizeMiB []float64
	PeakMiB []float64
}

// Hedged is one client's latencies (ms) on the tail server, sorted.
type Hedged struct {
	Client     string
	LatencyMs  []float64
	ExtraShare float64 // extra requests ÷ calls
}

// Overhead is one client's cost over the canned base: medians of Runs
// runs of BenchmarkOverhead.
type Overhead struct {
	Client   string
	NsOp     float64
	AllocsOp float64
	Runs     int
}

// Machine says where a figure was measured: cores, CPU, Go version, OS.
func Machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":")) + ", "
				break
			}
		}
	}
	return fmt.Sprintf("%d cores, %s%s, %s/%s", runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
