// Package adaptive is a concurrency limit learned from latency: how many
// pieces of work may be in flight at once, found by watching how long each
// takes. It serves the server's load shedding (package overload) and can
// serve a client's per-host limit; it knows nothing of HTTP.
//
// The model, after Netflix's concurrency-limits (Vegas, Gradient2) and
// TCP's BBR. Completed work is gathered in windows of about one limit's
// worth of samples (at least 4), more when latency is noisy: enough for a
// window's mean to be known to a tenth of itself (at most 200 samples). A
// window's mean is compared with the floor, the latency of the work itself
// with no queue in front of it, with the window's own uncertainty taken off
// (two standard errors):
//
//   - at the floor (at most halfway to Tolerance times it) and the limit
//     in use (half of it or more in flight), the limit grows by its square
//     root: fast when small, gently when large;
//   - past Tolerance times the floor, a queue shows in the latency, and
//     the limit is cut in proportion, toward the middle of the band, to a
//     quarter at most; the work in flight, admitted before the cut, is left
//     out of the next window, so that one queue is not cut for twice;
//   - a window with a dropped piece of work (timed out, abandoned by its
//     caller) cuts the limit by a tenth;
//   - in between, the limit holds.
//
// Noise. Latency that varies from one piece of work to the next (an
// exponential spread) is not a queue, and the lowest mean of small windows
// is far below the typical one: a rule that took it for the floor held a
// healthy server's limit at 1 to 6 with 100 callers, refusing 99.8% of
// them. So the noise is measured, from the differences between successive
// samples (von Neumann's estimator, which a queue that builds or drains,
// a trend, does not inflate), and learned over windows (it rises at once and
// falls by half a window; before any is measured, an exponential spread is
// assumed); it sizes the windows and the standard errors.
//
// The floor is the lowest mean of the last 16 windows that no queue of the
// limit's making can have slowed: the first, those in which the limit was
// not in use, and probes. A standing queue's windows would lift it, and the
// limit with it. The floor can only be seen with no queue, so a floor
// learned under load (a start into a crowd: a full queue looks flat) or
// one that no longer exists would hold the limit in the wrong place. After
// 32 windows in which the limit was in use, it probes, as BBR's ProbeRTT
// does: it halves what is in flight for one window, lets the queue drain,
// and adds that window's mean to those the floor is the lowest of. A probe
// costs at most half the throughput for one window in 33, and only while the
// limit is reached. The first probe comes after 2 windows in use, and so
// does the next after a probe that found the floor a fifth or more below
// what it was, or whose latency fell to 60% or less of the window's before
// it (half as much in flight took little more than half the time: a queue
// in proportion to what waits): a start into a crowd finds the floor in a
// few probes, each halving what is in flight.
//
// What it cannot yet tell from a queue: work of two kinds, one far slower
// (one request in ten a long poll of seconds), whose windows' means swing
// with how many slow ones each caught.
//
// The zero Options need no tuning. A Limit is safe for concurrent use:
// Acquire is one compare-and-swap, Release a short critical section per
// sample, and neither allocates; no lock is held while the work runs.
package adaptive

import (
	"errors"
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
	minWindow  = 4    // samples in a window, at least
	probeAfter = 32   // windows in use between probes
	firstProbe = 2    // windows in use before the first probe, and after one that moved the floor
	probeAgain = 0.8  // a probe that finds the floor below this share of it probes again soon
	queueFell  = 0.6  // a probe whose latency fell below this share of the window before it probes again soon
	dropCut    = 0.9  // the limit after a window with a drop
	maxCut     = 0.25 // the deepest cut of one window

	maxWindow   = 200 // samples in a window, at most, however noisy the latency
	precision   = 0.1 // what a window's mean should be known to: its standard error over it
	evidence    = 2.0 // standard errors by which a window's mean must pass a line to count
	noiseMemory = 2   // windows over which the noise learned falls
	floorMemory = 16  // windows the floor is the lowest mean of
	noisePrior  = 1.0 // the noise assumed before any is measured: an exponential spread
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
	queue    queue        // those that Wait for a slot

	mu       sync.Mutex
	min, max float64
	tol, mid float64
	cur      float64              // the learned limit
	floor    float64              // the lowest window mean, ns; 0 before the first
	probeIn  int                  // windows in use before the next probe
	probing  bool                 // this window measures the floor at half the limit
	skip     int                  // samples to leave out: work admitted before the probe
	n, drops int                  // this window's samples: measured and dropped
	mean     float64              // of the measured, ns
	prev, d2 float64              // the last sample, ns, and the sum of squared differences between successive samples
	closed   bool                 // a window has closed
	before   float64              // the last window's mean but a probe's, ns
	cv2      float64              // the latency's squared coefficient of variation, as learned over windows
	means    [floorMemory]float64 // the last windows' means, ns, a ring: the floor is the lowest
	next     int                  // where in means the next goes
	peak     int64                // the most in flight seen by this window's releases
}

// Check returns o with its zero fields set to the defaults, or an error
// that says what is wrong with it (New panics with that error): for the
// packages that take these options in their own, to name the error in
// their words.
func (o Options) Check() (Options, error) {
	if o.InitialLimit < 0 || o.MinLimit < 0 || o.MaxLimit < 0 || o.Tolerance < 0 {
		return o, errors.New("negative limit or tolerance")
	}
	if o.MinLimit == 0 {
		o.MinLimit = DefaultMinLimit
	}
	if o.MaxLimit == 0 {
		o.MaxLimit = max(DefaultMaxLimit, o.MinLimit)
	}
	if o.MinLimit > o.MaxLimit {
		return o, fmt.Errorf("MinLimit %d over MaxLimit %d", o.MinLimit, o.MaxLimit)
	}
	if o.InitialLimit == 0 {
		o.InitialLimit = min(max(DefaultInitialLimit, o.MinLimit), o.MaxLimit)
	}
	if o.InitialLimit < o.MinLimit || o.InitialLimit > o.MaxLimit {
		return o, fmt.Errorf("InitialLimit %d outside [%d, %d]", o.InitialLimit, o.MinLimit, o.MaxLimit)
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if !(o.Tolerance > 1) || math.IsInf(o.Tolerance, 1) {
		//lint:ignore ST1005 it begins with the field's name, as Go spells it
		return o, fmt.Errorf("Tolerance %v not above 1", o.Tolerance)
	}
	return o, nil
}

// New returns a Limit with o's settings. It panics with an "adaptive: ..."
// message if o is inconsistent.
func New(o Options) *Limit {
	o, err := o.Check()
	if err != nil {
		panic("adaptive: Options: " + err.Error())
	}
	l := &Limit{
		min: float64(o.MinLimit), max: float64(o.MaxLimit),
		tol: o.Tolerance, mid: (1 + o.Tolerance) / 2,
		cur: float64(o.InitialLimit), probeIn: firstProbe, cv2: noisePrior,
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
	l.hand()
}

// Discard gives back a slot and teaches the limit nothing: the work did
// not run, or its latency means nothing (it panicked).
func (l *Limit) Discard() {
	l.inFlight.Add(-1)
	l.hand()
}

// Limit returns the current limit.
func (l *Limit) Limit() int { return int(l.limit.Load()) }

// InFlight returns the number of slots taken.
func (l *Limit) InFlight() int { return int(l.inFlight.Load()) }

// Latency returns the mean latency of the last window, or of the samples
// so far before the first window closes; 0 before any.
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
		x := max(rtt, 0)
		l.mean += (x - l.mean) / float64(l.n)
		if l.n > 1 {
			l.d2 += (x - l.prev) * (x - l.prev)
		}
		l.prev = x
		if !l.closed { // before the first window closes, the samples so far
			l.latency.Store(int64(l.mean))
		}
	}
	l.peak = max(l.peak, n)
	size := l.cur
	if l.probing {
		size = float64(l.limit.Load())
	}
	if float64(l.n+l.drops) < max(minWindow, size, min(maxWindow, math.Ceil(l.cv2/(precision*precision)))) {
		return
	}
	l.update()
	l.n, l.drops, l.mean, l.d2, l.peak = 0, 0, 0, 0, 0
}

// update learns from the window that just closed.
func (l *Limit) update() {
	l.closed = true
	mean, se := 0.0, 0.0
	if l.n > 0 {
		mean = l.mean
		l.latency.Store(int64(mean))
	}
	if l.n > 1 && mean > 0 {
		// The noise, from the differences between successive samples (von
		// Neumann's estimator): a trend (a queue that builds or drains)
		// moves the mean, not the differences, so it is not taken for
		// noise; independent noise counts in full.
		cv2 := l.d2 / float64(2*(l.n-1)) / (mean * mean)
		if l.n >= minWindow {
			if cv2 > l.cv2 {
				l.cv2 = cv2
			} else {
				l.cv2 += (cv2 - l.cv2) / noiseMemory
			}
		}
		se = mean * math.Sqrt(max(cv2, l.cv2)/float64(l.n))
	}
	if l.probing {
		l.probing = false
		l.probeIn = probeAfter
		if l.n > 0 {
			if mean < probeAgain*l.floor || mean+evidence*se < queueFell*l.before {
				// The floor was wrong, or half as much in flight took
				// little more than half the time: a queue in proportion
				// to what waits, which the next probe halves again.
				l.probeIn = firstProbe
			}
			l.remember(mean)
		}
		l.limit.Store(int64(l.cur))
		return
	}
	used := float64(l.peak) >= l.cur/2
	if used {
		l.probeIn--
	}
	if l.n > 0 {
		l.before = mean
	}
	if l.n > 0 && (!used || l.floor == 0) {
		// Only a window that no queue of the limit's making can have
		// slowed (the limit not in use), a probe's, or the first, may
		// set the floor: a standing queue's windows would lift it, and
		// the limit with it.
		l.remember(mean)
	}
	low := 1.0 // the least the window's latency can be, over the floor
	if l.n > 0 {
		low = (mean - evidence*se) / l.floor
	}
	switch {
	case l.drops > 0:
		l.cur *= dropCut
		l.skip = int(l.inFlight.Load())
	case low > l.tol:
		// What is in flight was admitted under the old limit, its queue
		// still in front of it: the cut shows in the work admitted after
		// it. Leaving the rest out keeps one queue from cutting twice.
		l.cur *= max(maxCut, l.mid/low)
		l.skip = int(l.inFlight.Load())
	case low <= l.mid && used:
		l.cur += max(1, math.Sqrt(l.cur))
	}
	l.cur = min(max(l.cur, l.min), l.max)
	if l.probeIn <= 0 {
		// Half of what is in flight (or of the limit, if less) for a
		// window: the queue drains, and the work admitted after it shows
		// the floor. (Half a limit that grew past what its callers ask
		// would drain nothing.) What is in flight now was admitted
		// before, and is left out.
		l.probing = true
		l.skip = int(l.inFlight.Load())
		l.limit.Store(int64(max(l.min, math.Floor(min(l.cur, float64(max(l.peak, 1)))/2))))
		return
	}
	l.limit.Store(int64(l.cur))
}

// remember adds a window's mean to the last floorMemory, and makes the floor
// the lowest of them.
func (l *Limit) remember(mean float64) {
	l.means[l.next] = max(mean, 1)
	l.next = (l.next + 1) % floorMemory
	l.floor = math.Inf(1)
	for _, m := range l.means {
		if m > 0 {
			l.floor = min(l.floor, m)
		}
	}
}
