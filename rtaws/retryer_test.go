package rtaws_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/rtaws"
	"github.com/rtchain/rtchain/transport"
)

// fails answers a with the first n requests to each table, then succeeds.
func fails(n int, a answer) func(string, int) answer {
	return func(_ string, i int) answer {
		if i <= n {
			return a
		}
		return ok
	}
}

func always(a answer) func(string, int) answer { return func(string, int) answer { return a } }

// What the SDK's rules retry is retried, through the SDK's own loop; what
// they do not retry is sent once.
func TestRetriesWhatTheSDKRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   func(string, int) answer
		requests int
		code     string // of the error, "" for success
	}{
		{"a throttle (a 400 that names ProvisionedThroughputExceededException)", fails(1, throttled), 2, ""},
		{"two throttles", fails(2, throttled), 3, ""},
		{"a 500", fails(1, internal), 2, ""},
		{"a 503", fails(1, unavail), 2, ""},
		{"a ValidationException is sent once", always(validation), 1, "ValidationException"},
		{"three 503s: MaxAttempts", always(unavail), 3, "ServiceUnavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeDynamoDB{script: tc.script, latency: 10 * time.Millisecond}
				err := putItem(context.Background(), newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{}), true), "orders")
				assert.Len(t, f.requests(""), tc.requests)
				if tc.code == "" {
					require.NoError(t, err)
					return
				}
				var api smithy.APIError
				require.ErrorAs(t, err, &api)
				assert.Equal(t, tc.code, api.ErrorCode())
			})
		})
	}
}

// The wait before retry k is full jitter below min(MaxDelay,
// base·2^(k-1)), from ThrottleBaseDelay after a throttle and BaseDelay
// after a transient failure.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed answer
		base   time.Duration
	}{
		{"throttle", throttled, rtaws.DefaultThrottleBaseDelay},
		{"500", internal, rtaws.DefaultBaseDelay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const latency, calls = 10 * time.Millisecond, 200
				f := &fakeDynamoDB{script: always(tc.failed), latency: latency}
				c := newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{Budget: transport.RetryBudget{Disabled: true}}), true)
				var sum [2]time.Duration
				for i := range calls {
					table := fmt.Sprint("t", i)
					require.Error(t, putItem(context.Background(), c, table))
					seen := f.requests(table)
					require.Len(t, seen, 3)
					for k := 1; k <= 2; k++ {
						wait := seen[k].at.Sub(seen[k-1].at) - latency
						ceiling := tc.base << (k - 1)
						require.GreaterOrEqual(t, wait, time.Duration(0))
						require.Less(t, wait, ceiling, "retry %d", k)
						sum[k-1] += wait
					}
				}
				for k, s := range sum {
					mean := s / calls
					ceiling := tc.base << k
					assert.InDelta(t, float64(ceiling/2), float64(mean), float64(ceiling/8), "retry %d: full jitter's mean is half the ceiling", k+1)
				}
			})
		})
	}
}

// A scope whose budget is spent is not retried; the call ends at once with
// the last answer joined to a GiveUpError that says so.
func TestBudgetSpent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDynamoDB{script: always(unavail), latency: 10 * time.Millisecond}
		c := newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{
			Budget: transport.RetryBudget{MaxBanked: 1, MinPerSecond: -1}, // one retry banked, no floor
		}), true)
		require.Error(t, putItem(context.Background(), c, "orders"))
		assert.Len(t, f.requests(""), 2, "the banked retry, and no other")

		start := time.Now()
		err := putItem(context.Background(), c, "orders")
		assert.Equal(t, 10*time.Millisecond, time.Since(start), "no wait")
		assert.Len(t, f.requests(""), 3, "one attempt")

		var giveUp *rtaws.GiveUpError
		require.ErrorAs(t, err, &giveUp)
		assert.Equal(t, transport.GiveUpBudget, giveUp.Reason)
		assert.Equal(t, []any{"DynamoDB", "PutItem", "orders", 1}, []any{giveUp.Service, giveUp.Operation, giveUp.Resource, giveUp.Attempts})
		var api smithy.APIError
		require.ErrorAs(t, err, &api, "the service's answer is still reached")
		assert.Equal(t, "ServiceUnavailable", api.ErrorCode())
		var op *smithy.OperationError
		require.ErrorAs(t, err, &op)
		assert.Equal(t, "rtaws: DynamoDB PutItem on orders not retried after 1 attempt: the client spent its retry budget "+
			"(a share of its calls) for it; the service last answered 503 ServiceUnavailable: fake ServiceUnavailable", giveUp.Error())
		t.Logf("the error: %v", err)

		// Each call banks a tenth of a retry: the tenth call since the bank
		// emptied retries once.
		for range 8 {
			require.Error(t, putItem(context.Background(), c, "orders"))
		}
		before := len(f.requests(""))
		require.Error(t, putItem(context.Background(), c, "orders"))
		assert.Equal(t, 2, len(f.requests(""))-before, "the tenth call retries once")
		before = len(f.requests(""))
		require.Error(t, putItem(context.Background(), c, "orders"))
		assert.Equal(t, 1, len(f.requests(""))-before, "and the next does not")
	})
}

// Budgets are kept per operation and resource: a table whose every call
// fails spends its own, and another table, or another operation on the
// same table, still retries.
func TestBudgetsArePerScope(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDynamoDB{latency: 10 * time.Millisecond, script: func(table string, n int) answer {
			if table == "hot" || n%2 == 1 {
				return throttled // hot: always; the others: each call's first attempt
			}
			return ok
		}}
		c := newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{Budget: transport.RetryBudget{MaxBanked: 2, MinPerSecond: -1}}), true)
		for range 20 {
			require.Error(t, putItem(context.Background(), c, "hot"))
		}
		assert.Len(t, f.requests("hot"), 20+2+1, "two banked retries, and one from the tenth call since")
		require.NoError(t, putItem(context.Background(), c, "cold"), "another table has its own budget")
		_, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("hot"),
			Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "o-1"}}})
		require.Error(t, err)
		assert.Len(t, f.requests("hot"), 20+2+1+3, "another operation on the hot table too: its GetItem was retried to MaxAttempts")
	})
}

// A wait that would end after the context's deadline is not begun: the
// call ends at once, saying so; a wait that fits is made, and the SDK
// waits just what the retryer checked.
func TestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency, deadline = 10 * time.Millisecond, 300 * time.Millisecond
		f := &fakeDynamoDB{script: always(unavail), latency: latency}
		c := newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{
			BaseDelay: time.Second, MaxAttempts: 10, Budget: transport.RetryBudget{Disabled: true},
		}), true)
		reasons := map[string]int{}
		for i := range 100 {
			table := fmt.Sprint("t", i)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			start := time.Now()
			err := putItem(ctx, c, table)
			cancel()
			seen := f.requests(table)
			require.NotEmpty(t, seen)
			var canceled *aws.RequestCanceledError
			require.False(t, errors.As(err, &canceled), "never the SDK's sleep cut by the deadline: %v", err)
			var giveUp *rtaws.GiveUpError
			if !errors.As(err, &giveUp) {
				// The deadline came during an attempt that began before it.
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, deadline, time.Since(start))
				reasons["cut"]++
				continue
			}
			require.Equal(t, transport.GiveUpDeadline, giveUp.Reason)
			last := seen[len(seen)-1].at.Add(latency)
			assert.Equal(t, last, time.Now(), "ended when the last answer came")
			assert.Less(t, time.Since(start), deadline)
			assert.Greater(t, giveUp.Wait, deadline-time.Since(start), "the wait not begun would have passed the deadline")
			reasons[fmt.Sprint(len(seen), " attempts")]++
		}
		assert.Greater(t, reasons["1 attempts"], 50, "most first waits (below 1 s) do not fit in 290 ms: %v", reasons)
		assert.Greater(t, reasons["2 attempts"], 5, "some do: %v", reasons)
	})
}

// A wait the service names (x-amz-retry-after) is waited as the SDK waits
// it, within [backoff, backoff+5s], and spends no budget.
func TestServiceNamedWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		named := throttled
		named.wait = 700
		f := &fakeDynamoDB{script: func(table string, n int) answer {
			switch {
			case table == "named" && n == 1:
				return named
			case n == 1:
				return throttled
			}
			return ok
		}}
		c := newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{
			Budget: transport.RetryBudget{Ratio: 0.001, MaxBanked: 0.5, MinPerSecond: -1}, // never a retry
		}), true)
		require.NoError(t, putItem(context.Background(), c, "named"))
		seen := f.requests("named")
		require.Len(t, seen, 2)
		wait := seen[1].at.Sub(seen[0].at)
		assert.GreaterOrEqual(t, wait, 700*time.Millisecond)
		assert.Less(t, wait, rtaws.DefaultThrottleBaseDelay)

		var giveUp *rtaws.GiveUpError
		require.ErrorAs(t, putItem(context.Background(), c, "unnamed"), &giveUp, "without the header, the empty budget refuses")
		assert.Equal(t, transport.GiveUpBudget, giveUp.Reason)
	})
}

// The caller's cancellation ends a wait at once, with the context's error.
func TestCanceledWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDynamoDB{script: always(throttled)}
		c := newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{ThrottleBaseDelay: time.Hour}), true)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Millisecond, cancel)
		start := time.Now()
		err := putItem(ctx, c, "orders")
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, time.Millisecond, time.Since(start))
		assert.Len(t, f.requests(""), 1)
	})
}

// A client that has the retryer but not AddScope fails every call at once,
// saying what is missing, before it sends anything.
func TestWithoutAddScope(t *testing.T) {
	f := &fakeDynamoDB{}
	err := putItem(context.Background(), newDynamoDB(f, rtaws.NewRetryer(rtaws.Options{}), false), "orders")
	require.ErrorContains(t, err, "add rtaws.AddScope to the client's APIOptions")
	assert.Empty(t, f.requests(""))
}

// AddScope twice (the config's APIOptions and the client's) is AddScope
// once; a client's RetryMaxAttempts still bounds the attempts.
func TestAddScopeTwiceAndRetryMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDynamoDB{script: always(internal)}
		c := dynamodb.New(dynamodb.Options{
			Region: "us-east-1", BaseEndpoint: aws.String("https://dynamodb.test"), Credentials: creds,
			HTTPClient: &http.Client{Transport: f}, Retryer: rtaws.NewRetryer(rtaws.Options{}),
			APIOptions: []func(*middleware.Stack) error{rtaws.AddScope, rtaws.AddScope}, RetryMaxAttempts: 5,
		})
		require.Error(t, putItem(context.Background(), c, "orders"))
		assert.Len(t, f.requests(""), 5)
	})
}

// Retryer gives every client of a config one retryer: their calls to one
// scope share its budget.
func TestRetryerIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := aws.Config{Region: "us-east-1", Credentials: creds,
			Retryer:    rtaws.Retryer(rtaws.Options{Budget: transport.RetryBudget{MaxBanked: 1, MinPerSecond: -1}}),
			APIOptions: []func(*middleware.Stack) error{rtaws.AddScope}}
		f := &fakeDynamoDB{script: always(unavail)}
		clients := make([]*dynamodb.Client, 2)
		for i := range clients {
			cfg.HTTPClient = &http.Client{Transport: f}
			clients[i] = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String("https://dynamodb.test") })
		}
		require.Error(t, putItem(context.Background(), clients[0], "orders"))
		assert.Len(t, f.requests(""), 2, "the banked retry; then the bank is empty")
		var giveUp *rtaws.GiveUpError
		require.ErrorAs(t, putItem(context.Background(), clients[1], "orders"), &giveUp, "for the other client too")
		assert.Len(t, f.requests(""), 3)
	})
}

func TestOptionsPanic(t *testing.T) {
	for _, o := range []rtaws.Options{{MaxAttempts: -1}, {BaseDelay: -1}, {MaxDelay: -1}, {ThrottleBaseDelay: -1}} {
		assert.PanicsWithValue(t, fmt.Sprintf("rtaws: Options: negative MaxAttempts or delay: %+v", o), func() { rtaws.NewRetryer(o) })
	}
	assert.PanicsWithValue(t, "transport: RetryBudget: negative or NaN Ratio, MaxBanked or MaxHosts", func() {
		rtaws.NewRetryer(rtaws.Options{Budget: transport.RetryBudget{Ratio: -1}})
	})
}
