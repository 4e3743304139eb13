package transport

import (
	"sync/atomic"
	"time"
)

// sendRate tells how many attempts a host was sent in the last second, for
// the first cut of its pace (see pacer.open), without a clock on the common
// path: every sampleEvery sends, the sender reads the clock, and a lap that
// is a second old or more gives way to a new one. A lap is where it began,
// packed in one word: its time, in ticks of 1/16 s since paceEpoch, above
// the sends counted before it, modulo 2^32 (a second's sends never reach
// that).
type sendRate struct {
	lap, prev atomic.Uint64 // the current lap and the one before; 0 for none
}

const (
	sampleEvery = 16 // sends between two samples of the clock
	lapTicks    = 16 // a lap's least length: one second
	tickLength  = time.Second / lapTicks
)

// paceEpoch is the time that ticks count from: far enough back that a lap
// is never at tick 0, which stands for none.
var paceEpoch = time.Now().Add(-time.Second)

func ticks(now time.Time) uint32 { return uint32(now.Sub(paceEpoch) / tickLength) }

func packLap(tick uint32, sends int64) uint64 { return uint64(tick)<<32 | uint64(uint32(sends)) }

func lapTick(l uint64) uint32 { return uint32(l >> 32) }

// lapSince returns how many of sends were sent since the lap l began.
func lapSince(l uint64, sends int64) int64 { return int64(uint32(sends) - uint32(l)) }

// sent samples the clock when n, the count of sends including this one,
// says so: every sampleEvery sends, so that a host called a few times (most
// of a client's hosts, when it calls many) never reads the clock.
func (r *sendRate) sent(n int64) {
	if n%sampleEvery != 0 {
		return
	}
	now := ticks(time.Now())
	l := r.lap.Load()
	if l != 0 && now-lapTick(l) < lapTicks {
		return
	}
	if r.lap.CompareAndSwap(l, packLap(now, n-1)) && l != 0 {
		r.prev.Store(l)
	}
}

// lastSecond estimates how many of sends, the count so far, were sent in
// the second before now, and over how long (a second, or less for a host
// first called within it):
//
//   - before the first lap, every send, over no time (the window then
//     measures from the throttle): fewer than sampleEvery, a herd at most;
//   - in a lap younger than a second, its sends, and the share of the lap
//     before that falls in the rest of the second, as though its sends were
//     spread evenly over it (a lap that ended a long pause spreads its few
//     sends over the pause); in the first lap, every send over its age,
//     the sampleEvery−1 before it included;
//   - in a lap a second old or more, at most sampleEvery−1 of its sends:
//     any sample after its first second would have begun a new lap, so no
//     more came since. They count as the last second's, which is right for
//     the start of a burst after a pause and bounded for a host called
//     less than once a second.
func (r *sendRate) lastSecond(now time.Time, sends int64) (n int64, span time.Duration) {
	l := r.lap.Load()
	if l == 0 {
		return sends, 0
	}
	since, age := lapSince(l, sends), ticks(now)-lapTick(l)
	if age >= lapTicks {
		return min(since, sampleEvery-1), time.Second
	}
	p := r.prev.Load()
	if p == 0 {
		return sends, time.Duration(age) * tickLength
	}
	length := max(lapTick(l)-lapTick(p), 1)
	return since + int64(lapSince(p, int64(uint32(l)))*int64(lapTicks-age)/int64(length)), time.Second
}
