package transport

import (
	"testing"
	"testing/synctest"
	"time"
)

// sendRate's estimate of the last second's sends, in the cases its doc
// names, from sends made every every for a while.
func TestSendRateLastSecond(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sends    int
		every    time.Duration
		pause    time.Duration // after them
		then     int           // sends after the pause, at once
		min, max int64         // the estimate's bounds
	}{
		{"a herd before the first lap", 10, 0, 0, 0, 10, 10},
		{"a burst in its first second", 100, time.Millisecond, 0, 0, 100, 100},
		{"steady at 100 a second", 10_000, 10 * time.Millisecond, 0, 0, 90, 110},
		{"steady at 10 a second", 1_000, 100 * time.Millisecond, 0, 0, 8, 12},
		{"200 a second, 10 s quiet, then 20 at once", 20_000, 5 * time.Millisecond, 10 * time.Second, 20, 20, 60},
		{"100 a second, an hour quiet, then 10 at once", 10_000, 10 * time.Millisecond, time.Hour, 10, 10, sampleEvery - 1},
		{"one every 5 s", 100, 5 * time.Second, 0, 0, 0, sampleEvery - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var r sendRate
				var n int64
				send := func() { n++; r.sent(n) }
				for range tc.sends {
					send()
					time.Sleep(tc.every)
				}
				time.Sleep(tc.pause)
				for range tc.then {
					send()
				}
				got, span := r.lastSecond(time.Now(), n)
				if got < tc.min || got > tc.max || span > time.Second {
					t.Errorf("%d sends in the last %v, want %d to %d in at most a second", got, span, tc.min, tc.max)
				}
			})
		})
	}
}
