package transport

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker returns a middleware with a circuit breaker per URL host. Placed
// inside Retry it sees every attempt, and a retry is never sent to an open
// circuit: the attempt fails at once with a *CircuitOpenError, which Retry
// does not retry (unless RetryPolicy.Hosts offers another host).
//
// What counts as a failure is BreakerOptions.IsFailure (by default: 500, 502,
// 504, transient errors, timeouts). A 503 or 529 is a refusal, not a failure:
// a server that sheds its excess is still serving most of what it can, and a
// client that stopped sending to it would turn its overload into an outage. A
// 429 is neither (throttling: RateLimit answers it). The circuit opens
// when at least MinRequests answers are in the window and either FailureRatio
// of those the host took (all but the refusals) failed, or the window is a
// second old or more and holds no answer the host accepted:
// the host accepts nothing. (A host that accepts a little is sent little by
// RateLimit's adaptive throttle instead: a circuit that opened on a share
// of refusals, however high, would abandon a server offered many times its
// capacity, whose refusals, with their retries, far outnumber what it
// serves.) A half-open circuit's probe that is refused fails. An attempt that
// ends because its caller's context ended counts as nothing, and a probe it
// held is released; so does an attempt that RateLimit rejected locally
// (ErrRejectedLocally), which never reached the host. An attempt cut by
// RetryPolicy.PerTryTimeout is a failure, like any timeout of the transport.
//
// It is safe for concurrent use. It panics on negative options or a
// FailureRatio above 1.
func Breaker(o BreakerOptions) Middleware { return breakerWith(o, hostView[circuit]{}) }

// breakerWith is Breaker keeping its circuits in shared (a chain's table),
// or in a table of its own when shared is nil.
func breakerWith(o BreakerOptions, hosts hostView[circuit]) Middleware {
	if o.FailureRatio < 0 || o.FailureRatio > 1 || o.MinRequests < 0 || o.Window < 0 || o.CoolDown < 0 || o.Probes < 0 || o.MaxHosts < 0 {
		panic("transport: BreakerOptions: negative value or FailureRatio above 1")
	}
	o.MaxHosts = cmp.Or(o.MaxHosts, DefaultMaxHosts)
	o.FailureRatio = cmp.Or(o.FailureRatio, defaultBreakerFailureRatio)
	o.MinRequests = cmp.Or(o.MinRequests, defaultBreakerMinRequests)
	o.Window = cmp.Or(o.Window, defaultBreakerWindow)
	o.CoolDown = cmp.Or(o.CoolDown, defaultBreakerCoolDown)
	o.Probes = cmp.Or(o.Probes, defaultBreakerProbes)
	ownRule := o.IsFailure != nil
	if !ownRule {
		o.IsFailure = IsHostFailure
	}
	return func(next http.RoundTripper) http.RoundTripper {
		next = wrapped("Breaker", next)
		if o.Disabled {
			return next
		}
		if hosts.lookup == nil {
			hosts = ownHosts[circuit](o.MaxHosts)
		}
		hosts.init = func(c *circuit) { c.closed.Store(true) }
		return &breakerTransport{next: next, o: o, ownRule: ownRule, hosts: hosts, below: takerBelow(next, hosts.table)}
	}
}

// outcome is what an attempt says of its host, for the breaker.
type outcome int

const (
	succeeded outcome = iota // the host took the request (whatever its status)
	failed                   // IsFailure: the host is failing
	refused                  // a 503 or 529 that IsFailure did not claim
)

type breakerTransport struct {
	next    http.RoundTripper
	o       BreakerOptions
	ownRule bool // o.IsFailure is the caller's: it is asked first
	hosts   hostView[circuit]
	below   entryTaker // next, when it takes the call's entry (see entryTaker)
}

// idle reports whether c holds no verdict: it is closed.
func (c *circuit) idle() bool { return c.closed.Load() }

var _ http.RoundTripper = (*breakerTransport)(nil)

// circuit is one host's state, guarded by its own mutex, but for what the
// common case (a success through a closed circuit) needs, which is atomic:
// it takes no lock and reads no clock.
type circuit struct {
	closed    atomic.Bool  // state == Closed, readable without mu
	successes atomic.Int64 // in the window
	failures  atomic.Int64 // in the window; written under mu
	refusals  atomic.Int64 // in the window; written under mu

	st lazy[circuitState] // from the first failure, refusal or probe
}

// circuitState is the state of a circuit that met a failure: all but the
// common case's.
type circuitState struct {
	mu          sync.Mutex
	state       BreakerState
	windowStart time.Time
	openUntil   time.Time
	probing     int // probes in flight
	probeOK     int
}

type change struct{ from, to BreakerState }

func (t *breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTripEntry(req, nil)
}

func (t *breakerTransport) sharedTable() any { return t.hosts.table }

func (t *breakerTransport) roundTripEntry(req *http.Request, r hostRef) (*http.Response, error) {
	host := hostOf(req)
	r = t.hosts.entry(host, r, t.below)
	c := t.hosts.at(host, r)
	probe, ch, err := t.admit(c, host)
	t.report(host, ch)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	resp, rerr := passDown(t.next, t.below, req, r)
	var out outcome
	switch ctx := req.Context(); {
	case rerr != nil && errors.Is(rerr, ErrRejectedLocally):
		t.release(c, probe) // never reached the host
		return resp, rerr
	case rerr == nil || ctx.Err() == nil:
		out = t.outcome(resp, rerr)
	case errors.Is(context.Cause(ctx), ErrPerTryTimeout):
		// A per-try clock above this layer (Retry outside a Chain) cut
		// the attempt: the host did not answer in time. In a Chain the
		// clock runs below, and its timeout arrives here as rerr.
		out = failed
	default:
		t.release(c, probe) // the caller gave up: says nothing of the host
		return resp, rerr
	}
	t.report(host, t.record(c, probe, out))
	return resp, rerr
}

// outcome classifies an attempt's answer: a 503 or 529 is a refusal, unless
// an IsFailure of the caller's claims it.
func (t *breakerTransport) outcome(resp *http.Response, err error) outcome {
	unavailable := err == nil && resp != nil &&
		(resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == StatusOverloaded)
	switch {
	case unavailable && !t.ownRule:
		return refused
	case t.o.IsFailure(resp, err):
		return failed
	case unavailable:
		return refused
	}
	return succeeded
}

// admit lets a request through, as a probe when half-open, or refuses it.
func (t *breakerTransport) admit(c *circuit, host string) (probe bool, ch *change, err error) {
	if c.closed.Load() { // the common case: no lock, no clock
		return false, nil, nil
	}
	cs := c.st.get()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.state == Closed {
		return false, nil, nil
	}
	now := time.Now()
	if cs.state == Open && !now.Before(cs.openUntil) {
		ch = c.set(HalfOpen)
		cs.probing, cs.probeOK = 0, 0
	}
	if cs.state == Open {
		return false, ch, &CircuitOpenError{Host: host, Until: cs.openUntil}
	}
	if cs.probing+cs.probeOK >= t.o.Probes {
		return false, ch, &CircuitOpenError{Host: host, Until: now}
	}
	cs.probing++
	return true, ch, nil
}

func (t *breakerTransport) release(c *circuit, probe bool) {
	if probe {
		cs := c.st.get()
		cs.mu.Lock()
		cs.probing--
		cs.mu.Unlock()
	}
}

// record counts an outcome and moves the state.
func (t *breakerTransport) record(c *circuit, probe bool, out outcome) *change {
	if !probe && out == succeeded && c.closed.Load() {
		// A success alone opens a circuit only when it brings the window
		// to MinRequests with enough failures in it already.
		ok := c.successes.Add(1)
		f, r := c.failures.Load(), c.refusals.Load()
		if f+r == 0 || !t.tripped(ok, f, r, time.Time{}) {
			return nil
		}
	}
	cs := c.st.get()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if probe {
		cs.probing--
		if cs.state != HalfOpen {
			return nil
		}
		if out != succeeded { // a refused probe: the host still takes nothing
			return t.open(c)
		}
		if cs.probeOK++; cs.probeOK >= t.o.Probes {
			c.resetWindow(time.Now())
			return c.set(Closed)
		}
		return nil
	}
	if cs.state != Closed {
		return nil
	}
	if out != succeeded {
		// The window rolls over here, where it matters: successes alone
		// never open a circuit, so they need not read the clock.
		if now := time.Now(); now.Sub(cs.windowStart) >= t.o.Window {
			c.resetWindow(now)
		}
		if out == failed {
			c.failures.Add(1)
		} else {
			c.refusals.Add(1)
		}
	}
	if t.tripped(c.successes.Load(), c.failures.Load(), c.refusals.Load(), cs.windowStart) {
		return t.open(c)
	}
	return nil
}

// tripped reports whether a window of ok successes, bad failures and no
// refusals, which began at start, opens the circuit: enough answers, and
// either FailureRatio of those the host took failed, or the host accepted
// none for refusalSpan at least. (A refusal is answered at once and
// work takes time: a server that sheds its excess answers the first
// requests of a burst with refusals before it answers any with its work.
// A zero start is a window not yet known to be old enough.)
func (t *breakerTransport) tripped(ok, bad, no int64, start time.Time) bool {
	n := ok + bad + no
	if n < int64(t.o.MinRequests) {
		return false
	}
	took := ok + bad
	if bad > 0 && float64(bad) >= t.o.FailureRatio*float64(took) {
		return true
	}
	return no > 0 && ok == 0 && !start.IsZero() && time.Since(start) >= min(refusalSpan, t.o.Window)
}

// refusalSpan is how long a host must have accepted nothing for its
// refusals to open its circuit.
const refusalSpan = time.Second

// resetWindow starts a new window at now. Its state's mu is held.
func (c *circuit) resetWindow(now time.Time) {
	cs := c.st.get() // cs.mu is held
	cs.windowStart = now
	c.successes.Store(0)
	c.failures.Store(0)
	c.refusals.Store(0)
}

func (t *breakerTransport) open(c *circuit) *change {
	cs := c.st.get() // cs.mu is held
	cs.openUntil = time.Now().Add(t.o.CoolDown)
	return c.set(Open)
}

func (c *circuit) set(s BreakerState) *change {
	cs := c.st.get() // cs.mu is held
	if cs.state == s {
		return nil
	}
	ch := &change{cs.state, s}
	cs.state = s
	c.closed.Store(s == Closed)
	return ch
}

// report tells the hook of a change, outside the lock. A change of state is
// the host's, not the call's that happened to trigger it: it goes to the
// breaker's own hook only, never to the call's Trace.
func (t *breakerTransport) report(host string, ch *change) {
	if ch != nil && t.o.OnStateChange != nil {
		t.o.OnStateChange(host, ch.from, ch.to)
	}
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *breakerTransport) CloseIdleConnections() { closeIdle(t.next) }
