package transport

import "time"

// Budget is the state of a RetryBudget, one bucket per target, for the
// retry loops of other protocols to keep the rule Retry keeps (rtgrpc's
// interceptors do). Its methods are safe for concurrent use; a nil *Budget
// (NewBudget of a disabled RetryBudget) allows every retry.
type Budget struct{ b *budgets }

// NewBudget returns the state of conf, with its zero fields defaulted. It
// returns nil when conf.Disabled. It panics on negative or NaN fields, as
// Retry does.
func NewBudget(conf RetryBudget) *Budget {
	b := newBudgets(conf.withDefaults(), hostView[hostBudget]{})
	if b == nil {
		return nil
	}
	return &Budget{b: b}
}

// Call records a call to target: it deposits the call's share of a retry.
func (b *Budget) Call(target string) {
	if b != nil {
		b.b.depositCall(b.b.hosts.get(target))
	}
}

// Retry reports whether a retry to target may be sent, and takes its token.
func (b *Budget) Retry(target string) bool {
	return b == nil || b.b.withdrawRetry(b.b.hosts.get(target))
}

// Refund gives back the token of a retry that was not sent after all.
func (b *Budget) Refund(target string) {
	if b != nil {
		b.b.refund(b.b.hosts.get(target))
	}
}

// FullJitter is Retry's backoff before retry k (k ≥ 1): a random duration
// in [0, min(maxDelay, base·2^(k-1))).
func FullJitter(base, maxDelay time.Duration, k int) time.Duration {
	return backoff(base, maxDelay, k)
}
