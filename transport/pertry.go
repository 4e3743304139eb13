package transport

import (
	"context"
	"sync"
	"time"
)

// tryTimer is RetryPolicy.PerTryTimeout for one attempt: it cancels the
// attempt when it fires, and it can be paused while a middleware inside
// Retry waits on the client's side (for a rate limit, say), so that the
// timeout bounds the attempt's time on the network, not in queues.
type tryTimer struct {
	mu        sync.Mutex
	t         *time.Timer
	deadline  time.Time
	remaining time.Duration
	paused    int
	fired     bool
	cancel    func() // cancels the attempt with a per-try timeout as its cause
}

type tryTimerKey struct{}

func startTryTimer(d time.Duration, cancel func()) *tryTimer {
	tt := &tryTimer{cancel: cancel, deadline: time.Now().Add(d)}
	tt.t = time.AfterFunc(d, tt.fire)
	return tt
}

func (tt *tryTimer) fire() {
	tt.mu.Lock()
	if tt.paused > 0 || tt.fired { // a pause raced with the timer: it wins
		tt.remaining = 0
		tt.mu.Unlock()
		return
	}
	tt.fired = true
	tt.mu.Unlock()
	tt.cancel()
}

func (tt *tryTimer) pause() {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.paused++; tt.paused == 1 && !tt.fired {
		tt.t.Stop()
		tt.remaining = time.Until(tt.deadline)
	}
}

func (tt *tryTimer) resume() {
	tt.mu.Lock()
	tt.paused--
	if tt.paused > 0 || tt.fired {
		tt.mu.Unlock()
		return
	}
	if tt.remaining <= 0 {
		tt.fired = true
		tt.mu.Unlock()
		tt.cancel()
		return
	}
	tt.deadline = time.Now().Add(tt.remaining)
	tt.t.Reset(tt.remaining)
	tt.mu.Unlock()
}

// stop ends the timer when the attempt's headers are in, and reports
// whether it had fired.
func (tt *tryTimer) stop() (fired bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.t.Stop()
	fired = tt.fired
	tt.fired = true // no resume may restart it
	return fired
}

// PausePerTryTimeout stops the clock of RetryPolicy.PerTryTimeout for the
// attempt ctx belongs to, until resume is called: a middleware inside Retry
// calls it around a wait on the client's side, so that the wait does not
// count against the attempt. RateLimit does. Without a per-try timeout it
// does nothing. resume must be called exactly once.
func PausePerTryTimeout(ctx context.Context) (resume func()) {
	tt, ok := ctx.Value(tryTimerKey{}).(*tryTimer)
	if !ok {
		return func() {}
	}
	tt.pause()
	return tt.resume
}
