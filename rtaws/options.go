package rtaws

import (
	"cmp"
	"fmt"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// The retryer's defaults, the SDK's standard retryer's (as of v1.48.0):
// 3 attempts, backoff from 50 ms, from 1 s after a throttle, capped at 20 s.
const (
	DefaultMaxAttempts       = 3
	DefaultBaseDelay         = 50 * time.Millisecond
	DefaultThrottleBaseDelay = time.Second
	DefaultMaxDelay          = 20 * time.Second
)

// Options configures NewRetryer. Its zero value means the defaults: 3
// attempts, full-jitter backoff from 50 ms (1 s after a throttle) capped
// at 20 s, and a retry budget of 10% of calls with a floor of 10 retries a
// second, banked up to 10, per scope (service, region, operation and
// resource).
type Options struct {
	// MaxAttempts bounds the attempts of a call, the first included. 0
	// means DefaultMaxAttempts; 1 means no retries. A client's
	// RetryMaxAttempts, when set, overrides it (the SDK wraps the
	// retryer).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the full-jitter backoff before retry k,
	// a random wait in [0, min(MaxDelay, BaseDelay·2^(k-1))). 0 means the
	// defaults.
	BaseDelay, MaxDelay time.Duration
	// ThrottleBaseDelay replaces BaseDelay after a throttle (the SDK's
	// throttling codes, such as ProvisionedThroughputExceededException,
	// RequestThrottled and SlowDown): a throttled resource needs longer
	// than a transient failure. 0 means DefaultThrottleBaseDelay.
	ThrottleBaseDelay time.Duration
	// Budget bounds retries to a share of calls, per scope. Its zero value
	// means transport's defaults; MaxHosts bounds the scopes kept.
	Budget transport.RetryBudget
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts < 0 || o.BaseDelay < 0 || o.MaxDelay < 0 || o.ThrottleBaseDelay < 0 {
		panic(fmt.Sprintf("rtaws: Options: negative MaxAttempts or delay: %+v", o))
	}
	o.MaxAttempts = cmp.Or(o.MaxAttempts, DefaultMaxAttempts)
	o.BaseDelay = cmp.Or(o.BaseDelay, DefaultBaseDelay)
	o.ThrottleBaseDelay = cmp.Or(o.ThrottleBaseDelay, DefaultThrottleBaseDelay)
	o.MaxDelay = cmp.Or(o.MaxDelay, DefaultMaxDelay)
	return o
}
