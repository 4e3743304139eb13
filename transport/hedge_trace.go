package transport

import "sync"

// hedgeTrace passes the attempts' events to the call's Trace one at a
// time, as a Trace's hooks expect (the attempts run on goroutines of their
// own), and their CallEnd once: the winner's, with every attempt counted.
type hedgeTrace struct {
	parent *Trace
	mu     sync.Mutex
	ends   map[int]CallEndEvent // by hedge attempt
	done   bool
}

func (h *hedgeTrace) forAttempt(n int) *Trace {
	p := h.parent
	return &Trace{
		Retry:   serialized(h, p.Retry),
		GiveUp:  serialized(h, p.GiveUp),
		Paced:   serialized(h, p.Paced),
		Resume:  always(h, p.Resume),
		Hedge:   p.Hedge,
		CallEnd: func(e CallEndEvent) { h.mu.Lock(); h.ends[n] = e; h.mu.Unlock() },
	}
}

// serialized calls f under h's lock, until the call has ended (a loser's
// late events are not the call's); nil stays nil.
func serialized[E any](h *hedgeTrace, f func(E)) func(E) {
	if f == nil {
		return nil
	}
	return func(e E) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.done {
			f(e)
		}
	}
}

// trace is the call's Trace, nil for a nil h.
func (h *hedgeTrace) trace() *Trace {
	if h == nil {
		return nil
	}
	return h.parent
}

// always calls f under h's lock, also after the call has ended: a Resume
// comes as the winner's body is read.
func always[E any](h *hedgeTrace, f func(E)) func(E) {
	if f == nil {
		return nil
	}
	return func(e E) {
		h.mu.Lock()
		defer h.mu.Unlock()
		f(e)
	}
}

// end tells the call's Trace that the call ended with winner's outcome,
// counting every attempt sent: those of the attempts that ended, and one
// for each still in flight.
func (h *hedgeTrace) end(winner, sent int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	e, ok := h.ends[winner]
	if !ok {
		return // no Retry below: nothing ended a call
	}
	for n, other := range h.ends {
		if n != winner {
			e.Attempts += other.Attempts
		}
	}
	e.Attempts += sent - len(h.ends)
	e.Hedges, e.Won = sent-1, winner
	h.parent.callEnd(e)
}
