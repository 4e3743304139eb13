package transport

import (
	"cmp"
	"math"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// Budget defaults: retries up to 10% of calls, at least 10 a second, with at
// most 10 retries banked (the SRE book's 10%, Finagle's floor, gRPC's bank).
const (
	DefaultBudgetRatio        = 0.1
	DefaultBudgetMinPerSecond = 10
	DefaultBudgetMaxBanked    = 10
)

// RetryBudget bounds retries to a fraction of calls, per host, for all the
// calls through one Retry middleware, so that an outage is not multiplied by
// the retry count. Each call deposits Ratio of a token; each retry withdraws
// one, or else takes one of MinPerSecond (so that a client with little
// traffic can still retry); with neither, the call ends with the last
// outcome at once. A budget never delays or blocks a first attempt.
//
// Its zero value means the defaults: 10% of calls, 10 a second, 10 banked.
type RetryBudget struct {
	// Disabled turns the budget off: every call may retry MaxRetries times.
	Disabled bool
	// Ratio is the share of calls that may be retried. 0 means
	// DefaultBudgetRatio.
	Ratio float64
	// MinPerSecond is the retries always allowed per second and host.
	// 0 means DefaultBudgetMinPerSecond; a negative value means none.
	MinPerSecond float64
	// MaxBanked caps the tokens a run of successes saves for later, and is
	// what a new host starts with. 0 means DefaultBudgetMaxBanked.
	MaxBanked float64
	// MaxHosts bounds the hosts whose budgets are kept; past it, the least
	// recently used host's budget is dropped (a host seen again starts
	// full). 0 means DefaultMaxHosts.
	MaxHosts int
}

func (b RetryBudget) withDefaults() RetryBudget {
	if b.Ratio < 0 || b.MaxBanked < 0 || b.MaxHosts < 0 || math.IsNaN(b.Ratio+b.MinPerSecond+b.MaxBanked) {
		panic("transport: RetryBudget: negative or NaN Ratio, MaxBanked or MaxHosts")
	}
	b.MaxHosts = cmp.Or(b.MaxHosts, DefaultMaxHosts)
	b.Ratio = cmp.Or(b.Ratio, DefaultBudgetRatio)
	b.MinPerSecond = cmp.Or(b.MinPerSecond, DefaultBudgetMinPerSecond)
	b.MaxBanked = cmp.Or(b.MaxBanked, DefaultBudgetMaxBanked)
	return b
}

// milli is the fixed-point unit of a budget's balance: 1000 = one retry.
const milli = 1000

// budgets holds one bucket per host, created full on demand.
type budgets struct {
	deposit   int64   // milli-tokens per call
	banked    int64   // cap, milli-tokens
	minPerSec float64 // RetryBudget.MinPerSecond: the floor's rate; 0 for none
	hosts     hostView[hostBudget]
}

type hostBudget struct {
	balance atomic.Int64 // milli-tokens; may exceed the cap until withdrawn from
	// floor is the floor of MinPerSecond retries a second, made full when
	// the balance first runs out: most hosts never need it.
	floor atomic.Pointer[rate.Limiter]
}

// idle reports true: a host's budget may be forgotten at any time, and
// starts full again (a budget only ever holds retries back).
func (*hostBudget) idle() bool { return true }

// newBudgets returns the budgets of one Retry middleware, or nil when the
// budget is disabled, in hosts (a chain's table) or a table of its own
// when hosts has none. conf has been through RetryPolicy.withDefaults.
func newBudgets(conf RetryBudget, hosts hostView[hostBudget]) *budgets {
	if conf.Disabled {
		return nil
	}
	b := &budgets{
		deposit:   int64(conf.Ratio * milli),
		banked:    int64(conf.MaxBanked * milli),
		minPerSec: conf.MinPerSecond,
	}
	if hosts.lookup == nil {
		hosts = ownHosts[hostBudget](conf.MaxHosts)
	}
	b.hosts = hosts
	b.hosts.init = func(hb *hostBudget) { hb.balance.Store(b.banked) }
	return b
}

// depositCall is the success path: one load, and one wait-free add while
// the bucket is below its cap. The cap is applied when a retry withdraws,
// the only time the balance matters, so a race of two adds past it costs
// nothing.
func (b *budgets) depositCall(hb *hostBudget) {
	if hb.balance.Load() < b.banked { // a full bucket, a healthy host's, is only read
		hb.balance.Add(b.deposit)
	}
}

// withdrawRetry reports whether a retry may be sent, and takes its token.
func (b *budgets) withdrawRetry(hb *hostBudget) bool {
	for {
		cur := hb.balance.Load()
		eff := min(cur, b.banked)
		if eff < milli {
			break
		}
		if hb.balance.CompareAndSwap(cur, eff-milli) {
			return true
		}
	}
	if b.minPerSec <= 0 {
		return false
	}
	floor := hb.floor.Load()
	if floor == nil {
		hb.floor.CompareAndSwap(nil, rate.NewLimiter(rate.Limit(b.minPerSec), int(math.Ceil(b.minPerSec))))
		floor = hb.floor.Load()
	}
	return floor.Allow()
}

// refund gives back the token of a retry that was not sent after all.
func (b *budgets) refund(hb *hostBudget) {
	hb.balance.Add(milli)
}
