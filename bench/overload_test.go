package bench

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"github.com/failsafe-go/failsafe-go/budget"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/rtchain/rtchain/bench/figures"
	"github.com/rtchain/rtchain/overload"
	"github.com/rtchain/rtchain/transport"
)

// EnvOverload runs TestOverloadFigures without saving chart data:
// RTCHAIN_OVERLOAD=1 go test -run TestOverloadFigures -v .
const EnvOverload = "RTCHAIN_OVERLOAD"

// The servers of the overload workload, each around the same service.
var overloadServers = map[string]func(http.Handler) http.Handler{
	// The handler alone: its queue grows.
	"unprotected": nil,
	// A plain load shedder, as Envoy's adaptive concurrency filter answers:
	// 503 at once, no Retry-After.
	"shed 503":                      Shed(6, Refuse(http.StatusServiceUnavailable)),
	"shed 429 + Retry-After: 1":     Shed(6, Refuse(http.StatusTooManyRequests, "Retry-After", "1")),
	"shed 429 + retry-after-ms: 20": Shed(6, Refuse(http.StatusTooManyRequests, "retry-after-ms", "20")),
	// failsafe-go's adaptive limiter with its defaults, as a handler: it
	// answers 429 without Retry-After to what it rejects.
	"failsafe adaptivelimiter": func(next http.Handler) http.Handler {
		return failsafehttp.NewHandler(next, adaptivelimiter.NewWithDefaults[*http.Response]())
	},
	// rtchain's server half with its defaults.
	"rtchain overload.Middleware": overload.Middleware(overload.Options{}),
}

// The clients, each with its library's defaults over the same base.
var overloadClients = map[string]func(base http.RoundTripper) *http.Client{
	"bare": func(base http.RoundTripper) *http.Client { return &http.Client{Transport: base} },
	// rtchain's default chain, over the harness's base (NewClient's own
	// keeps fewer idle connections).
	"rtchain NewClient": func(base http.RoundTripper) *http.Client {
		return transport.NewClientWith(transport.ClientOptions{Base: base})
	},
	"failsafehttp": func(base http.RoundTripper) *http.Client {
		return &http.Client{Transport: failsafehttp.NewRoundTripper(base, failsafehttp.NewRetryPolicyBuilder().Build())}
	},
	// What failsafe-go's documentation shows for HTTP (failsafe-go.dev/http:
	// backoff from 1 s to 30 s, 3 retries) with the retry budget its
	// documentation recommends against retry storms (budget's defaults).
	"failsafehttp, documented": func(base http.RoundTripper) *http.Client {
		rp := failsafehttp.NewRetryPolicyBuilder().WithBackoff(time.Second, 30*time.Second).WithMaxRetries(3).
			WithBudget(budget.NewBuilder().Build()).Build()
		return &http.Client{Transport: failsafehttp.NewRoundTripper(base, rp)}
	},
	"go-retryablehttp": func(base http.RoundTripper) *http.Client {
		rc := retryablehttp.NewClient()
		rc.HTTPClient = &http.Client{Transport: base}
		rc.Logger = nil
		return rc.StandardClient()
	},
}

// overloadRows are the pairs issue 32 asks for.
var overloadRows = [][2]string{
	{"unprotected", "bare"},
	{"unprotected", "rtchain NewClient"},
	{"shed 503", "bare"},
	{"shed 503", "rtchain NewClient"},
	{"shed 503", "go-retryablehttp"},
	{"shed 429 + Retry-After: 1", "bare"},
	{"shed 429 + Retry-After: 1", "rtchain NewClient"},
	{"shed 429 + retry-after-ms: 20", "bare"},
	{"shed 429 + retry-after-ms: 20", "rtchain NewClient"},
	{"failsafe adaptivelimiter", "failsafehttp"},
	{"failsafe adaptivelimiter", "failsafehttp, documented"},
	{"failsafe adaptivelimiter", "rtchain NewClient"},
	{"rtchain overload.Middleware", "bare"},
	{"rtchain overload.Middleware", "rtchain NewClient"},
	{"rtchain overload.Middleware", "go-retryablehttp"},
}

// overloadWorkload is issue 32's: 4 slots of 10 ms (400 calls/s), 500 ms
// deadlines, load × capacity for 3 s, then half the capacity for 2 s.
func overloadWorkload(load float64) OverloadWorkload {
	return OverloadWorkload{Slots: 4, Service: 10 * time.Millisecond, Deadline: 500 * time.Millisecond,
		Phases: []OverloadPhase{{Load: load, For: 3 * time.Second}, {Load: 0.5, For: 2 * time.Second}}}
}

// The overload workload, every row at 1.5×, 3× and 10× capacity. It takes
// about five minutes: run it without -race.
//
//	RTCHAIN_OVERLOAD=1 go test -run TestOverloadFigures -v .
//	cd bench && go run ./cmd/figures -only overload   (also saves the data and draws the chart)
func TestOverloadFigures(t *testing.T) {
	if os.Getenv(EnvOverload) == "" && !figures.Enabled() {
		t.Skip("takes minutes: " + EnvOverload + "=1 go test -run TestOverloadFigures -v .")
	}
	data := overloadWorkload(0).Figures()
	data.Phases[0].Load = 0 // per row
	data.Measured, data.Machine, data.Commit = time.Now().UTC().Format(time.RFC3339), figures.Machine(), measuredCommit()
	t.Logf("rtchain at %s; %s", data.Commit, data.Machine)
	for _, load := range []float64{1.5, 3, 10} {
		for _, pair := range overloadRows {
			t.Run(fmt.Sprintf("%gx/%s/%s", load, pair[0], pair[1]), func(t *testing.T) {
				row, err := overloadWorkload(load).Measure(overloadServers[pair[0]], overloadClients[pair[1]])
				if err != nil {
					t.Fatal(err)
				}
				row.Server, row.Client = pair[0], pair[1]
				t.Log(overloadLine(row))
				data.Rows = append(data.Rows, row)
			})
		}
	}
	if err := figures.Save("overload", data); err != nil {
		t.Fatal(err)
	}
}

// The overload workload, short, for CI: 3× a smaller service's capacity
// for 1 s. It asserts only what holds on any machine: the harness's counts
// agree with each other and with physics, and a bare client of a plain
// shedder is served at least half of the capacity in time.
func TestOverloadShort(t *testing.T) {
	w := OverloadWorkload{Slots: 4, Service: 20 * time.Millisecond, Deadline: 500 * time.Millisecond,
		Phases: []OverloadPhase{{Load: 3, For: time.Second}, {Load: 0.5, For: 500 * time.Millisecond}}}
	for _, pair := range [][2]string{{"shed 503", "bare"}, {"shed 503", "rtchain NewClient"}} {
		t.Run(pair[0]+"/"+pair[1], func(t *testing.T) {
			row, err := w.Measure(overloadServers[pair[0]], overloadClients[pair[1]])
			if err != nil {
				t.Fatal(err)
			}
			row.Server, row.Client = pair[0], pair[1]
			t.Log(overloadLine(row))
			checkOverloadCounts(t, w, row)
			if pair[1] == "bare" {
				if row.ServedPct < 50 {
					t.Errorf("bare client of a plain shedder: %.0f%% of capacity served in time, want ≥ 50%%", row.ServedPct)
				}
				if row.RequestsPerCall > 1 || row.NotSent != 0 {
					t.Errorf("bare client: %.2f requests per call, %d calls not sent", row.RequestsPerCall, row.NotSent)
				}
			}
		})
	}
}

// checkOverloadCounts holds a row's counts to each other and to what the
// service can physically do.
func checkOverloadCounts(t *testing.T, w OverloadWorkload, row figures.OverloadRow) {
	t.Helper()
	sum := func(v []int) (n int) {
		for _, x := range v {
			n += x
		}
		return n
	}
	calls := 0
	for _, p := range w.Phases {
		calls += int(p.Load*w.Capacity()*p.For.Seconds() + 0.5)
	}
	outcomes := 0
	for _, n := range row.Outcomes {
		outcomes += n
	}
	served := sum(row.ServedByStart)
	var runFor time.Duration
	for _, p := range w.Phases {
		runFor += p.For
	}
	// The service cannot have served more than its slots allow from the
	// first call to the last deadline.
	physical := int(w.Capacity()*(runFor+w.Deadline).Seconds()) + w.Slots
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{row.Offered == int(w.Phases[0].Load*w.Capacity()*w.Phases[0].For.Seconds()+0.5), "offered = load × capacity × duration"},
		{sum(row.Started) == calls && outcomes == calls, "every call started once and ended once"},
		{served == sum(row.ServedByEnd), "served by start = served by end"},
		{row.Served <= row.Offered && row.Served <= served, "served ≤ offered"},
		{served <= row.Runs && row.Runs <= physical, "served ≤ handler runs ≤ what the slots allow"},
		{row.NotSent <= row.FailedEarly && row.FailedEarly <= calls-served, "not sent ≤ failed early ≤ not served"},
		{row.Served == 0 || (row.P99Ms > 0 && row.P99Ms <= float64(w.Deadline/time.Millisecond)), "p99 of served within the deadline"},
		{row.LatePct >= 0 && row.LatePct <= 100, "late share a percentage"},
	} {
		if !c.ok {
			t.Errorf("inconsistent counts: want %s: %+v", c.what, row)
		}
	}
}

// overloadLine is a row as one line of a test's log.
func overloadLine(r figures.OverloadRow) string {
	outcomes := make([]string, 0, len(r.Outcomes))
	for k, n := range r.Outcomes {
		outcomes = append(outcomes, fmt.Sprintf("%d %s", n, k))
	}
	slices.Sort(outcomes)
	recovery := "not within the run"
	if r.RecoveryMs >= 0 {
		recovery = fmt.Sprintf("%.0f ms", r.RecoveryMs)
	}
	return fmt.Sprintf("%gx %s / %s: served in time %d of %d (%.0f%% of capacity), p99 %.0f ms, late runs %.1f%% of %d (%d left queued), recovery %s, %.2f requests/call, %d failed early (%d not sent), generator lag p99 %.1f ms; %s",
		r.Load, r.Server, r.Client, r.Served, r.Offered, r.ServedPct, r.P99Ms, r.LatePct, r.Runs, r.LeftQueued, recovery,
		r.RequestsPerCall, r.FailedEarly, r.NotSent, r.LagP99Ms, strings.Join(outcomes, ", "))
}

// measuredCommit is the commit of the tree measured, and the files outside
// bench/ and docs/ that differ from it, if any.
func measuredCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=all", "--", "..", ":!../bench", ":!../docs").Output()
	if lines := strings.TrimRight(string(st), "\n"); err == nil && lines != "" {
		var files []string
		for line := range strings.SplitSeq(lines, "\n") {
			files = append(files, line[min(3, len(line)):]) // "XY path"
		}
		commit += " + uncommitted changes to " + strings.Join(files, ", ")
	}
	return commit
}
