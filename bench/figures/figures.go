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

// Overload is one run of the overload workload (bench's TestOverloadFigures):
// a service of Slots handler slots taking ServiceMs each is offered, by
// open-loop callers with a DeadlineMs deadline each, each phase's Load ×
// its capacity for the phase's duration; the first phase is the overload,
// and the rest shows the recovery. Measured and Machine say when and where,
// Commit which tree of rtchain.
type Overload struct {
	Slots      int
	ServiceMs  float64
	DeadlineMs float64
	BinMs      float64
	Phases     []OverloadPhase
	Measured   string // RFC 3339
	Machine    string
	Commit     string
	Rows       []OverloadRow
}

// OverloadPhase is one phase of the offered load: Load × capacity for
// Seconds.
type OverloadPhase struct {
	Load    float64
	Seconds float64
}

// OverloadRow is one (server, client) pair at one overload factor (the
// first phase's Load).
type OverloadRow struct {
	Server, Client string
	Load           float64 // the overload phase's offered load ÷ capacity
	// Of the calls started in the overload phase: how many, how many were
	// served in time (a 2xx received before their deadline), that as a
	// percentage of capacity × the phase's duration, and the p99 latency
	// (ms) of those served.
	Offered, Served int
	ServedPct       float64
	P99Ms           float64
	// Handler runs (the work done) in the whole run, and the share of them
	// that finished after their caller had left (its deadline had passed or
	// its request's context had ended).
	Runs       int
	LatePct    float64
	LeftQueued int     // handlers still waiting for a slot when the run ended: dropped, not run
	RecoveryMs float64 // from the end of the overload to full goodput; -1: not within the run
	// Requests the server saw ÷ calls; calls that ended without a 2xx in time and
	// before their deadline (refused, or given up early); of those, the calls
	// the client failed without sending any request.
	RequestsPerCall float64
	FailedEarly     int
	NotSent         int
	LagP99Ms        float64 // how late the load generator started its calls (p99)
	// How the calls ended: "200", "503", … or an error's kind.
	Outcomes map[string]int
	// Per bin of BinMs from the start: calls started, calls started that
	// were served in time, and served calls by the time they were served.
	Started, ServedByStart, ServedByEnd []int
}
