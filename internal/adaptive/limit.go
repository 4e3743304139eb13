// Package adaptive is a concurrency limit learned from latency: how many
// pieces of work may be in flight at once, found by watching how long each
// takes. It serves the server's load shedding (package overload) and can
// serve a client's per-host limit; it knows nothing of HTTP.
//
// The model, after Netflix's concurrency-limits (Vegas, Gradient2) and
// TCP's BBR. Completed work is gathered in windows of about one limit's
// worth of samples (at least 4). A window's mean latency is compared with
// the floor, the lowest window mean seen, the latency of the work itself
// with no queue in front of it:
//
//   - at the floor (mean at most halfway to Tolerance times it) and the
//     limit in use (half of it or more in flight), the limit grows by its
//     square root: fast when small, gently when large;
//   - past Tolerance times the floor, a queue shows in the latency, and
//     the limit is cut in proportion, toward the middle of the band, by
//     half at most; the work in flight, admitted before the cut, is left
//     out of the next window, so that one queue is not cut for twice;
//   - a window with a dropped piece of work (timed out, abandoned by its
//     caller) cuts the limit by a tenth;
//   - in between, the limit holds.
//
// The floor can only be seen with no queue, so a floor learned under load
// (a start into a crowd: a full queue looks flat) or one that no longer
// exists (the work became slower) would hold the limit in the wrong place.
// After 32 windows in which the limit was in use, it probes, as BBR's
// ProbeRTT does: it halves for one window, lets the queue drain, and takes
// that window's mean as the floor. A probe costs at most half the
// throughput for one window in 33, and only while the limit is reached.
// The first probe comes after 4 windows in use, and so does the next after
// a probe that found the floor a fifth or more below what it was: a start
// into a crowd finds the floor in a few probes, each halving the limit.
//
// The zero Options need no tuning. A Limit is safe for concurrent use:
// Acquire is one compare-and-swap, Release a short critical section per
// sample, and neither allocates; no lock is held while the work runs.
package adaptive

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by New to the zero fields of Options.
const (
	DefaultInitialLimit = 20
	DefaultMinLimit     = 1
	DefaultMaxLimit     = 1000
	DefaultTolerance    = 1.5
)

const (
	minWindow  = 4   // samples in a window, at least
	probeAfter = 32  // windows in use between probes
	firstProbe = 4   // windows in use before the first probe, and after one that moved the floor
	probeAgain = 0.8 // a probe that finds the floor below this share of it probes again soon
	dropCut    = 0.9 // the limit after a window with a drop
	maxCut     = 0.5 // the deepest cut of one window
)

// Options configures a Limit. The zero value means the defaults: a limit
// of 20 to start with, between 1 and 1000, a tolerance of 1.5.
type Options struct {
	// InitialLimit is the limit before anything was learned. 0 means
	// DefaultInitialLimit (bounded by MinLimit and MaxLimit).
	InitialLimit int
	// MinLimit and MaxLimit bound the limit. 0 means DefaultMinLimit and
	// DefaultMaxLimit.
	MinLimit, MaxLimit int
	// Tolerance is how many times its floor the latency may be before the
	// limit is cut; it must be more than 1. 0 means DefaultTolerance.
	Tolerance float64
}

// A Limit is a concurrency limit learned from latency. Its methods are
// safe for concurrent use.
type Limit struct {
	limit    atomic.Int64 // what Acquire admits up to
	inFlight atomic.Int64
	latency  atomic.Int64 // the last window's mean, in nanoseconds

	mu       sync.Mutex
	min, max float64
	tol, mid float64
	cur      float64 // the learned limit
	floor    float64 // the lowest window mean, ns; 0 before the first
	probeIn  int     // windows in use before the next probe
	probing  bool    // this window measures the floor at half the limit
	skip     int     // samples to leave out: work admitted before the probe
	n, drops int     // this window's samples: measured and dropped
	sum      float64 // of the measured, ns
	peak     int64   // the most in flight seen by this window's releases
}

// New returns a Limit with o's settings. It panics with an "adaptive: ..."
// message if o is inconsistent.
func New(o Options) *Limit {
	if o.InitialLimit < 0 || o.MinLimit < 0 || o.MaxLimit < 0 || o.Tolerance < 0 {
		panic("adaptive: Options: negative limit or tolerance")
	}
	if o.MinLimit == 0 {
		o.MinLimit = DefaultMinLimit
	}
	if o.MaxLimit == 0 {
		o.MaxLimit = max(DefaultMaxLimit, o.MinLimit)
	}
	if o.MinLimit > o.MaxLimit {
		panic(fmt.Sprintf("adaptive: Options: MinLimit %d over MaxLimit %d", o.MinLimit, o.MaxLimit))
	}
	if o.InitialLimit == 0 {
		o.InitialLimit = min(max(DefaultInitialLimit, o.MinLimit), o.MaxLimit)
	}
	if o.InitialLimit < o.MinLimit || o.InitialLimit > o.MaxLimit {
		panic(fmt.Sprintf("adaptive: Options: InitialLimit %d outside [%d, %d]", o.InitialLimit, o.MinLimit, o.MaxLimit))
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if !(o.Tolerance > 1) || math.IsInf(o.Tolerance, 1) {
		panic(fmt.Sprintf("adaptive: Options: Tolerance %v not above 1", o.Tolerance))
	}
	l := &Limit{
		min: float64(o.MinLimit), max: float64(o.MaxLimit),
		tol: o.Tolerance, mid: (1 + o.Tolerance) / 2,
		cur: float64(o.InitialLimit), probeIn: firstProbe,
	}
	l.limit.Store(int64(o.InitialLimit))
	return l
}

// Acquire takes a slot and reports true if fewer than Limit() pieces of
// work are in flight; otherwise it takes nothing and reports false. A
// slot taken is given back with Release or Discard.
func (l *Limit) Acquire() bool { return l.AcquireBelow(int(l.limit.Load())) }

// AcquireBelow takes a slot and reports true if fewer than n pieces of
// work are in flight, whatever the limit: for work that must pass beyond
// it (n above Limit) or keep a share of it free (n below).
func (l *Limit) AcquireBelow(n int) bool {
	for {
		cur := l.inFlight.Load()
		if cur >= int64(n) {
			return false
		}
		if l.inFlight.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// Release gives back a slot, with the latency of the work that held it.
// dropped reports work that failed for lack of time (it timed out, or its
// caller left before it ended): a sign of overload whose latency is not
// used.
func (l *Limit) Release(rtt time.Duration, dropped bool) {
	n := l.inFlight.Add(-1) + 1
	l.mu.Lock()
	l.sample(float64(rtt), dropped, n)
	l.mu.Unlock()
}

// Discard gives back a slot and teaches the limit nothing: the work did
// not run, or its latency means nothing (it panicked).
func (l *Limit) Discard() { l.inFlight.Add(-1) }

// Limit returns the current limit.
func (l *Limit) Limit() int { return int(l.limit.Load()) }

// InFlight returns the number of slots taken.
func (l *Limit) InFlight() int { return int(l.inFlight.Load()) }

// Latency returns the mean latency of the last window, 0 before the first.
func (l *Limit) Latency() time.Duration { return time.Duration(l.latency.Load()) }

// sample adds one sample to the window, and closes the window when it is
// full. n is what was in flight with the sample's work.
func (l *Limit) sample(rtt float64, dropped bool, n int64) {
	if l.skip > 0 {
		l.skip--
		return
	}
	if dropped {
		l.drops++
	} else {
		l.n++
		l.sum += max(rtt, 0)
	}
	l.peak = max(l.peak, n)
	size := l.cur
	if l.probing {
		size = float64(l.limit.Load())
	}
	if float64(l.n+l.drops) < max(minWindow, size) {
		return
	}
	l.update()
	l.n, l.drops, l.sum, l.peak = 0, 0, 0, 0
}

// update learns from the window that just closed.
func (l *Limit) update() {
	mean := 0.0
	if l.n > 0 {
		mean = l.sum / float64(l.n)
		l.latency.Store(int64(mean))
	}
	if l.probing {
		l.probing = false
		l.probeIn = probeAfter
		if l.n > 0 {
			if mean < probeAgain*l.floor {
				l.probeIn = firstProbe // the floor was wrong: look again soon
			}
			l.floor = max(mean, 1)
		}
		l.limit.Store(int64(l.cur))
		return
	}
	used := float64(l.peak) >= l.cur/2
	if used {
		l.probeIn--
	}
	if l.n > 0 && (l.floor == 0 || mean < l.floor) {
		l.floor = max(mean, 1)
	}
	ratio := 1.0
	if l.n > 0 {
		ratio = mean / l.floor
	}
	switch {
	case l.drops > 0:
		l.cur *= dropCut
		l.skip = int(l.inFlight.Load())
	case ratio > l.tol:
		// What is in flight was admitted under the old limit, its queue
		// still in front of it: the cut shows in the work admitted after
		// it. Leaving the rest out keeps one queue from cutting twice.
		l.cur *= max(maxCut, l.mid/ratio)
		l.skip = int(l.inFlight.Load())
	case ratio <= l.mid && used:
		l.cur += max(1, math.Sqrt(l.cur))
	}
	l.cur = min(max(l.cur, l.min), l.max)
	if l.probeIn <= 0 {
		// Half the limit for a window: the queue drains, and the work
		// admitted after it shows the floor. What is in flight now was
		// admitted before, and is left out.
		l.probing = true
		l.skip = int(l.inFlight.Load())
		l.limit.Store(int64(max(l.min, math.Floor(l.cur/2))))
		return
	}
	l.limit.Store(int64(l.cur))
}
