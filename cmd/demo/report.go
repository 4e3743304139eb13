package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// printTable prints the summaries side by side.
func printTable(w io.Writer, all []*stats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(*stats) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, s := range all {
			fmt.Fprintf(tw, "%s\t", f(s))
		}
		fmt.Fprintln(tw)
	}
	row("", func(s *stats) string { return s.Name })
	row("calls", func(s *stats) string { return fmt.Sprint(s.Calls) })
	row("succeeded", func(s *stats) string { return fmt.Sprint(s.Succeeded) })
	row("failed", func(s *stats) string { return fmt.Sprint(s.Failed) })
	row("attempts sent", func(s *stats) string { return fmt.Sprint(s.Attempts) })
	for _, reason := range reasons(all) {
		row("  retried after "+reason, func(s *stats) string { return fmt.Sprint(s.Retries[reason]) })
	}
	row("time waited before retries (sum)", func(s *stats) string { return dur(s.WaitedMS) })
	row("  of it asked by Retry-After", func(s *stats) string { return dur(s.RetryAfterMS) })
	row("TCP connections opened", func(s *stats) string { return fmt.Sprint(s.Conns) })
	if all[0].DuplicateEffects != nil {
		row("duplicate POST effects", func(s *stats) string { return fmt.Sprint(*s.DuplicateEffects) })
		row("POSTs charged, caller told failed", func(s *stats) string { return fmt.Sprint(*s.LostAnswers) })
		row("charges in the ledger (SQLite)", func(s *stats) string { return fmt.Sprint(*s.Charges) })
	}
	row("latency p50", func(s *stats) string { return dur(s.P50MS) })
	row("latency p99", func(s *stats) string { return dur(s.P99MS) })
	_ = tw.Flush()
	for _, s := range all {
		if s.FirstError != "" {
			fmt.Fprintf(w, "%s, first failure: %s\n", s.Name, s.FirstError)
		}
	}
}

func reasons(all []*stats) []string {
	var out []string
	for _, s := range all {
		for r := range s.Retries {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}

func dur(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// runInfo is what a run was: where it went and with which settings, so
// that a JSON summary says what it measured.
type runInfo struct {
	URL             string  `json:"url"` // redacted; "" for the embedded server
	Method          string  `json:"method,omitempty"`
	Calls           int     `json:"calls"`
	Concurrency     int     `json:"concurrency"`
	Rate            float64 `json:"rate_per_second,omitempty"`
	Retries         int     `json:"retries"`
	TimeoutMS       float64 `json:"timeout_ms"`
	PerTryTimeoutMS float64 `json:"per_try_timeout_ms"`
	Keys            bool    `json:"idempotency_keys"`
	Seed            uint64  `json:"seed,omitempty"` // the embedded server's
}

func (cfg *config) info(shownURL string) runInfo {
	r := runInfo{URL: shownURL, Calls: cfg.n, Concurrency: cfg.c, Rate: cfg.rate, Retries: cfg.retries,
		TimeoutMS: ms(cfg.timeout), PerTryTimeoutMS: ms(cfg.perTryTimeout), Keys: cfg.keys || cfg.url == ""}
	if cfg.url == "" {
		r.Seed = cfg.seed
	} else {
		r.Method = cfg.method
	}
	return r
}

// printJSON prints the run and each client's summary as one JSON object.
func printJSON(w io.Writer, run runInfo, all []*stats) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Run     runInfo  `json:"run"`
		Clients []*stats `json:"clients"`
	}{run, all})
}

// progressLine returns a progress reporter: a line redrawn in place on a
// terminal (calls done, failed and in flight), or a line at each quarter
// otherwise.
func progressLine(w io.Writer, name string, total int, tty bool) func(done, failed, inFlight int) {
	quarter := max(total/4, 1)
	last := -1
	return func(done, failed, inFlight int) {
		switch {
		case tty:
			fmt.Fprintf(w, "\r%-8s %d/%d calls, %d failed, %d in flight ", name, done, total, failed, inFlight)
			if done == total {
				fmt.Fprintln(w)
			}
		case done != last && (done%quarter == 0 || done == total):
			fmt.Fprintf(w, "%s: %d/%d calls, %d failed\n", name, done, total, failed)
		}
		last = done
	}
}

// progressTick is how often a terminal's progress line is redrawn while
// calls are in flight; 0 (no terminal) redraws only when a call ends.
func progressTick(tty bool) time.Duration {
	if tty {
		return 200 * time.Millisecond
	}
	return 0
}
