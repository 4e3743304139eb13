package transport

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// What Breaker is configured with and what it reports: its options and
// their defaults, its default rule of a failing host, the states of a
// circuit, and the error of a call that an open circuit refused.

// Breaker's defaults, as BreakerOptions says them.
const (
	defaultBreakerFailureRatio = 0.5
	defaultBreakerMinRequests  = 20
	defaultBreakerWindow       = 10 * time.Second
	defaultBreakerCoolDown     = 5 * time.Second
	defaultBreakerProbes       = 3
)

// ErrCircuitOpen is matched (errors.Is) by the error of a request that an
// open circuit refused without sending it.
var ErrCircuitOpen = errors.New("transport: circuit open")

// CircuitOpenError is the error of a request refused by an open circuit.
type CircuitOpenError struct {
	Host string
	// Until is when the circuit lets probes through again.
	Until time.Time
}

// Error names the host and when its circuit lets probes through again.
func (e *CircuitOpenError) Error() string {
	return fmt.Sprintf("transport: circuit open for %s until %s", e.Host, e.Until.Format(time.RFC3339))
}

// Is reports whether target is ErrCircuitOpen.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// BreakerState is the state of one host's circuit.
type BreakerState int

// The states of a circuit.
const (
	// Closed lets every request through and counts failures.
	Closed BreakerState = iota
	// Open refuses every request until the cool-down ends.
	Open
	// HalfOpen lets a few probes through: their successes close the
	// circuit, a failure opens it again.
	HalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// BreakerOptions configures Breaker. Its zero value means the defaults: a
// host's circuit opens when at least 20 requests in a 10s window were
// answered and at least half of those the host took failed, or when the host
// accepted none of them for a second (only refusals and failures); it stays
// open 5s, then closes after 3 successful probes.
type BreakerOptions struct {
	// Disabled leaves the layer out: Breaker returns the transport below
	// as it is.
	Disabled bool
	// FailureRatio of the requests in a window that the host took (those it
	// did not refuse) that opens the circuit. 0 means 0.5.
	FailureRatio float64
	// MinRequests in a window before the ratio counts. 0 means 20.
	MinRequests int
	// Window over which requests are counted. 0 means 10 s.
	Window time.Duration
	// CoolDown is how long the circuit stays open. 0 means 5 s.
	CoolDown time.Duration
	// Probes is how many requests a half-open circuit lets through, and
	// how many must succeed to close it. 0 means 3.
	Probes int
	// IsFailure decides what counts as a failure. nil means IsHostFailure
	// (500, 502, 504, transient errors and timeouts, the transport's and
	// RetryPolicy.PerTryTimeout's) with 503 and 529 counted apart, as
	// refusals: a host that sheds a share of its load is healthy and
	// serving the rest, and refusals open the circuit only when the host
	// accepts nothing (see Breaker). A 503 or 529 that an IsFailure
	// of your own does not claim is a refusal too. A 429 is neither: it is
	// throttling, which RateLimit answers.
	IsFailure func(*http.Response, error) bool
	// MaxHosts bounds the hosts whose circuits are kept; past it, the
	// least recently used host's circuit is dropped, a closed one first.
	// 0 means DefaultMaxHosts.
	MaxHosts int
	// OnStateChange, when set, is called on each change of a host's state,
	// outside the breaker's locks. It must be safe for concurrent use.
	// LogBreakerChanges logs the changes; NewClientWith wires it to its
	// logger.
	OnStateChange func(host string, from, to BreakerState)
}

// IsHostFailure reports whether an attempt's outcome says its host is
// failing: a transient error or a timeout of the transport
// (IsTransientError), or a 500, 502, 503, 504 or 529. A 429, and any 4xx,
// is not: a server that throttles is healthy. Neither is the caller's
// context ending (see Breaker). It is Breaker's default rule, except that
// Breaker counts a 503 or 529 apart, as a refusal.
func IsHostFailure(resp *http.Response, err error) bool {
	switch {
	case err != nil:
		return IsTransientError(err)
	case resp == nil: // a RoundTripper below broke its contract
		return true
	}
	return resp.StatusCode >= 500 && IsRetryableStatus(resp.StatusCode)
}
