package rtaws

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rtchain/rtchain/transport"
)

// errNoScope is what a call gets from a client that runs the retryer
// without AddScope.
var errNoScope = errors.New("rtaws: the call has no scope: add rtaws.AddScope to the client's APIOptions (or the config's) beside the retryer")

// maxRetryAfterExtra is the longest the SDK waits beyond the backoff when
// the service names a wait (x-amz-retry-after, in milliseconds): it clamps
// that wait to [backoff, backoff+5s].
const maxRetryAfterExtra = 5 * time.Second

// retryer is NewRetryer's aws.RetryerV2. It is safe for concurrent use.
type retryer struct {
	o         Options
	budget    *transport.Budget
	retryable retry.IsErrorRetryables
	throttle  retry.IsErrorThrottles
	// waits hands the wait that GetRetryToken drew for a failure to
	// RetryDelay, which the SDK asks next, with the same error and without
	// the context: error → *drawnWait. (An error value that two calls
	// meet at once, a sentinel, could hand one the other's wait; the
	// SDK's errors are new for each attempt.)
	waits sync.Map
}

var _ aws.RetryerV2 = (*retryer)(nil)

// drawnWait is the backoff drawn for the retry after attempt.
type drawnWait struct {
	table   *sync.Map
	err     error
	attempt int
	wait    time.Duration
}

// NewRetryer returns an aws.RetryerV2 that decides as the SDK's standard
// retryer what may be retried (its retryables: throttling and transient
// error codes read from the body, 5xx statuses, connection errors, clock
// skew) and decides by rtchain's policy how often and when:
//
//   - Retries come out of a budget (Options.Budget: a share of calls, with
//     a floor a second) kept per scope: the service, region, operation and
//     resource (the table, queue or bucket; see AddScope). An outage is
//     not multiplied by the attempts, and the budget is back as soon as
//     calls are: there is no quota that only successes refill. One table's
//     hot partition spends its own scope's budget, and no other's; nothing
//     paces the client as a whole.
//   - The wait before retry k is full-jitter backoff (transport.FullJitter)
//     from BaseDelay, or ThrottleBaseDelay after a throttle; a wait the
//     service names (x-amz-retry-after) is honoured as the SDK honours it,
//     and spends no budget.
//   - A wait that would end after the context's deadline is not begun: the
//     call ends at once.
//
// A call that is not retried for its budget or its deadline ends with the
// last attempt's error joined to a *GiveUpError that says so (the SDK
// joins the retryer's refusal, as it does its own quota's), inside the
// SDK's *smithy.OperationError: errors.As still reaches the service's
// smithy.APIError.
//
// The retryer reads each call's scope from the middleware that AddScope
// adds: a client must have both, or its calls fail at once with an error
// that says so. One retryer may serve many clients (see Retryer). It
// panics on negative Options.
func NewRetryer(o Options) aws.RetryerV2 {
	o = o.withDefaults()
	return &retryer{
		o:         o,
		budget:    transport.NewBudget(o.Budget),
		retryable: append(retry.IsErrorRetryables(nil), retry.DefaultRetryables...),
		throttle:  append(retry.IsErrorThrottles(nil), retry.DefaultThrottles...),
	}
}

// Retryer returns NewRetryer(o) as aws.Config.Retryer (config.WithRetryer)
// takes it: every client made from the config gets the same retryer, so
// that its budgets, one per scope, count every call. The clients need
// AddScope in their APIOptions too.
func Retryer(o Options) func() aws.Retryer {
	r := NewRetryer(o)
	return func() aws.Retryer { return r }
}

// IsErrorRetryable reports whether err is worth another attempt, by the
// SDK's default retryables.
func (r *retryer) IsErrorRetryable(err error) bool {
	return r.retryable.IsErrorRetryable(err).Bool()
}

// MaxAttempts returns Options.MaxAttempts.
func (r *retryer) MaxAttempts() int { return r.o.MaxAttempts }

// GetAttemptToken counts an attempt of the call in ctx, and the call
// itself in its scope's budget when it is the first.
func (r *retryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	c := callOf(ctx)
	if c == nil {
		return nil, errNoScope
	}
	if c.begin(ctx) {
		r.budget.Call(c.key)
	}
	return nopRelease, nil
}

// GetInitialToken is the deprecated form of GetAttemptToken, which the SDK
// does not call when GetAttemptToken is there: it does nothing.
func (r *retryer) GetInitialToken() func(error) error { return nopRelease }

// GetRetryToken decides whether the retryable failure opErr of the call in
// ctx is retried: it draws the wait, refuses a wait that would end after
// ctx's deadline, then takes a retry from the scope's budget unless the
// service named the wait. It refuses with a *GiveUpError.
func (r *retryer) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	c := callOf(ctx)
	if c == nil {
		return nil, errNoScope
	}
	backoff, exact := r.draw(c.attempts, opErr)
	wait, named := withServiceWait(backoff, opErr)
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		return nil, c.giveUp(ctx, transport.GiveUpDeadline, wait, opErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err // canceled
	}
	if !named && !r.budget.Retry(c.key) {
		return nil, c.giveUp(ctx, transport.GiveUpBudget, 0, opErr)
	}
	if exact {
		p := &drawnWait{table: &r.waits, err: opErr, attempt: c.attempts, wait: backoff}
		r.waits.Store(opErr, p)
		c.pending = p
	}
	return nopRelease, nil
}

// RetryDelay returns the backoff before the retry after attempt: the one
// GetRetryToken drew for err, or else a new one (the SDK asks for a delay
// also when it refused the token, for a long-polling operation, which
// backs off before it fails).
func (r *retryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if keyable(err) {
		if v, ok := r.waits.LoadAndDelete(err); ok && v.(*drawnWait).attempt == attempt {
			return v.(*drawnWait).wait, nil
		}
	}
	return transport.FullJitter(r.base(err), r.o.MaxDelay, attempt), nil
}

// draw returns the backoff before the retry after attempt, failed with
// err. exact reports that RetryDelay will return that very wait; when it
// will not (an error that is no pointer cannot be handed over), draw
// returns the longest wait RetryDelay may draw, for the deadline's check.
func (r *retryer) draw(attempt int, err error) (wait time.Duration, exact bool) {
	base := r.base(err)
	if keyable(err) {
		return transport.FullJitter(base, r.o.MaxDelay, attempt), true
	}
	ceiling := r.o.MaxDelay
	if shift := attempt - 1; shift < 62 && base<<shift>>shift == base && base<<shift < ceiling {
		ceiling = base << shift
	}
	return ceiling, false
}

// base is the backoff's base after err: longer after a throttle.
func (r *retryer) base(err error) time.Duration {
	if r.throttle.IsErrorThrottle(err).Bool() {
		return r.o.ThrottleBaseDelay
	}
	return r.o.BaseDelay
}

// keyable reports whether err can key the hand-over from GetRetryToken to
// RetryDelay: a pointer, as the SDK's errors are, is hashable and names
// one failure.
func keyable(err error) bool {
	return err != nil && reflect.TypeOf(err).Kind() == reflect.Pointer
}

// withServiceWait returns the wait the SDK will make after backoff: when
// the answer carries x-amz-retry-after (milliseconds), the SDK waits that
// long, within [backoff, backoff+5s]. named reports such a wait.
func withServiceWait(backoff time.Duration, err error) (wait time.Duration, named bool) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Response == nil {
		return backoff, false
	}
	ms, perr := strconv.ParseInt(re.Response.Header.Get("X-Amz-Retry-After"), 10, 64)
	if perr != nil || ms <= 0 {
		return backoff, false
	}
	asked := time.Duration(min(ms, int64(time.Hour/time.Millisecond))) * time.Millisecond
	return min(max(asked, backoff), backoff+maxRetryAfterExtra), true
}

func nopRelease(error) error { return nil }
