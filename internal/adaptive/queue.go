package adaptive

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Wait.
var (
	// ErrQueueFull is Wait's error when as many as it allows already wait.
	ErrQueueFull = errors.New("adaptive: the queue is full")
	// ErrTooLate is Wait's error when no slot came before the time it was
	// given.
	ErrTooLate = errors.New("adaptive: no slot in time")
)

// queue is a Limit's callers waiting for a slot, first come first served:
// a list, so that one who leaves is taken out at once, of waiters kept in a
// pool, so that waiting allocates nothing once warm.
type queue struct {
	waiting    atomic.Int64 // the list's length, read without mu
	mu         sync.Mutex
	head, tail *waiter
	pool       sync.Pool
}

// waiter is one caller in the queue.
type waiter struct {
	ready      chan struct{} // a slot was handed over (buffered: handing never blocks)
	prev, next *waiter
	queued     bool
}

// Waiting returns how many callers wait for a slot.
func (l *Limit) Waiting() int { return int(l.queue.waiting.Load()) }

// Wait takes a slot: at once if one is free and nobody waits, or else after
// those already waiting, first come first served, as Release and Discard
// free slots. It gives up with ErrQueueFull at once when bound callers or
// more already wait (a bound below 1 lets none wait), with ErrTooLate when
// until passes (a zero until sets no time), and with ctx's error when ctx
// ends. A slot handed over as the wait ended is taken if only the time ran
// out, and given back if ctx ended. It allocates nothing once its pool of
// waiters is warm.
func (l *Limit) Wait(ctx context.Context, until time.Time, bound int) error {
	q := &l.queue
	if q.waiting.Load() == 0 && l.Acquire() {
		return nil
	}
	var expired <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return ErrTooLate
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		expired = timer.C
	}
	q.mu.Lock()
	if int(q.waiting.Load()) >= bound {
		q.mu.Unlock()
		return ErrQueueFull
	}
	w, _ := q.pool.Get().(*waiter)
	if w == nil {
		w = &waiter{ready: make(chan struct{}, 1)}
	}
	q.push(w)
	l.handLocked() // a slot freed before the push was handed to no one
	q.mu.Unlock()

	var err error
	select {
	case <-w.ready:
	case <-expired:
		err = ErrTooLate
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		q.mu.Lock()
		if w.queued {
			q.remove(w)
			q.mu.Unlock()
			q.pool.Put(w)
			return err
		}
		q.mu.Unlock()
		<-w.ready // handed a slot as the wait ended
	}
	q.pool.Put(w)
	if err := ctx.Err(); err != nil {
		l.Discard() // the slot came too late for a caller who left
		return err
	}
	return nil
}

// hand gives the slots free to the callers waiting, first come first
// served.
func (l *Limit) hand() {
	if l.queue.waiting.Load() == 0 {
		return
	}
	l.queue.mu.Lock()
	l.handLocked()
	l.queue.mu.Unlock()
}

// handLocked is hand with the queue's mu held.
func (l *Limit) handLocked() {
	q := &l.queue
	for q.head != nil && l.Acquire() {
		w := q.head
		q.remove(w)
		w.ready <- struct{}{}
	}
}

func (q *queue) push(w *waiter) {
	w.queued, w.prev, w.next = true, q.tail, nil
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.waiting.Add(1)
}

func (q *queue) remove(w *waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.queued, w.prev, w.next = false, nil, nil
	q.waiting.Add(-1)
}
