package transport

import (
	"errors"
	"testing"
)

// The adaptive throttle's rejection names its kind, as the cool-down's, the
// pace's and Limit's do (their tests check them through the chain).
func TestTheThrottlesRejectionHasItsKind(t *testing.T) {
	var a acceptance
	var rej *RejectedError
	if !errors.As(a.rejected("a.test", 3, 60, 0), &rej) || rej.Kind != RejectThrottle || rej.Kind.String() != "adaptive_throttle" {
		t.Fatalf("got %#v", rej)
	}
	if RejectOther.String() != "other" {
		t.Fatalf("the zero kind is %q", RejectOther)
	}
}
