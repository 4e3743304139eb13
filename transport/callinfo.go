package transport

import "context"

// The layers of one call talk through its request's context, never through
// shared state: an outer layer (Logging) puts an observer there for Retry to
// report to, and Retry puts each retry's attempt number there for the inner
// layers (Headers).

type ctxKey int

const (
	attemptKey ctxKey = iota
	observerKey
)

// AttemptFromContext returns the number of the attempt that a middleware
// inside Retry is handling: 1 for the first attempt, 2 for the first retry.
// It returns 1 when there is no Retry outside.
func AttemptFromContext(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey).(int); ok {
		return n
	}
	return 1
}

// callObserver is what Retry tells an outer layer about one call. It is
// used from the call's goroutine only.
type callObserver struct {
	attempts  int // set by Retry when the call ends
	onRetry   func(RetryEvent)
	onGiveUp  func(GiveUpEvent)
	onBreaker func(host string, from, to BreakerState)
}

func withObserver(ctx context.Context, o *callObserver) context.Context {
	return context.WithValue(ctx, observerKey, o)
}

func observerFrom(ctx context.Context) *callObserver {
	o, _ := ctx.Value(observerKey).(*callObserver)
	return o
}
