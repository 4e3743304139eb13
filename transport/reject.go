package transport

import (
	"context"
	"errors"
	"time"
)

// ErrRejectedLocally is matched (errors.Is) by the error of an attempt that
// the client turned down itself, at once and without sending it (see
// RejectedError). Retry takes such an attempt for a refusal: nothing reached
// the server, so any method may be sent again, after a wait that fits the
// call's deadline.
var ErrRejectedLocally = errors.New("transport: rejected locally")

// RejectedError is the error of an attempt that RateLimit turned down
// itself, without sending it, because its host refuses what it is sent
// beyond what it accepts: the host's throttles ask every request to wait
// longer than the call has (a cool-down, or its turn in the host's pace),
// or the host accepts too small a share of what it was sent for one more
// attempt to help (the adaptive throttle). It matches ErrRejectedLocally
// under errors.Is, and context.DeadlineExceeded too when the wait would
// have passed the call's deadline.
type RejectedError struct {
	// Host is the URL host the attempt was for.
	Host string
	// Kind says which limit turned it down, for metrics and code.
	Kind RejectKind
	// Reason says why, in words: "host cooling down for 1s", "host paced,
	// next send in 40ms", "host accepted 12 of 60 attempts in the last 1s".
	Reason string
	// Wait is how long until the host would take the attempt, when it is
	// known (a cool-down, a pace); 0 when it is not.
	Wait time.Duration
	// Deadline reports whether the wait would have passed the call's
	// deadline.
	Deadline bool
}

// Error says that the attempt was rejected locally, and why.
func (e *RejectedError) Error() string {
	msg := "transport: rejected locally: " + e.Reason
	if e.Deadline {
		msg += ": " + context.DeadlineExceeded.Error()
	}
	return msg
}

// Is reports whether target is ErrRejectedLocally, or
// context.DeadlineExceeded when the wait would have passed the deadline.
func (e *RejectedError) Is(target error) bool {
	return target == ErrRejectedLocally || (e.Deadline && target == context.DeadlineExceeded)
}

// RejectKind names the limit that rejected an attempt locally.
type RejectKind int

// The kinds of RejectedError.
const (
	RejectOther    RejectKind = iota // none of the below (the zero value)
	RejectCoolDown                   // the host's cool-down outlasts what the call can wait
	RejectPace                       // the attempt's turn in the host's pace comes too late
	RejectThrottle                   // the adaptive throttle: the host accepts too small a share
	RejectLimit                      // no slot under the host's concurrency limit (Limit) in time
)

// String returns the kind as a metric label: other, cool_down, pace,
// adaptive_throttle, limit.
func (k RejectKind) String() string {
	switch k {
	case RejectCoolDown:
		return "cool_down"
	case RejectPace:
		return "pace"
	case RejectThrottle:
		return "adaptive_throttle"
	case RejectLimit:
		return "limit"
	}
	return "other"
}

// holdLimit returns the latest time that a host-wide hold of an attempt
// that arrives at start may end: half the time left before ctx's deadline
// (the other half is the attempt's own), or zero when ctx has none. Under a
// sustained overload a hold that lets its attempts wait until their
// deadline sends each one too late to be served in time, and a cool-down
// that each refusal renews would hold them that long.
func holdLimit(ctx context.Context, start time.Time) time.Time {
	deadline, ok := responseDeadline(ctx)
	if !ok {
		return time.Time{}
	}
	return start.Add(deadline.Sub(start) / 2)
}
