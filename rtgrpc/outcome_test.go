package rtgrpc_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/rtgrpc"
)

// outcomeLog keeps what OnOutcome was told.
type outcomeLog struct {
	mu  sync.Mutex
	got []idempotency.Outcome
}

func (l *outcomeLog) record(_ context.Context, method string, o idempotency.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if method != unaryCall {
		o = "wrong method: " + idempotency.Outcome(method)
	}
	l.got = append(l.got, o)
}

func (l *outcomeLog) outcomes() []idempotency.Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]idempotency.Outcome(nil), l.got...)
}

// beginFails is a store whose Begin fails.
type beginFails struct{ idempotency.Store }

func (beginFails) Begin(context.Context, string, idempotency.Record, time.Duration) (idempotency.Record, bool, error) {
	return idempotency.Record{}, false, errUnavailable
}

// completeLost is a store whose Complete finds the lease gone.
type completeLost struct{ idempotency.Store }

func (completeLost) Complete(context.Context, string, string, *idempotency.Response, time.Duration) error {
	return idempotency.ErrLeaseLost
}

// recoverer turns a handler's panic into Internal, as a recovery
// interceptor outside rtgrpc's would.
func recoverer(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (reply any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = status.Error(codes.Internal, "panic")
		}
	}()
	return handler(ctx, req)
}

// Each way a keyed call ends is reported once, with its Outcome; calls
// let through without a key are not reported.
func TestServerOnOutcomeReportsEachCallOnce(t *testing.T) {
	started, blocked := make(chan struct{}), make(chan struct{})
	cases := []struct {
		name  string
		opts  rtgrpc.ServerOptions
		unary func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error)
		run   func(t *testing.T, c testpb.TestServiceClient)
		want  []idempotency.Outcome
	}{{
		name: "first run, replays", unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			for range 3 {
				_, err := c.UnaryCall(keyed(t.Context(), "k"), pay("1"))
				require.NoError(t, err)
			}
		},
		want: []idempotency.Outcome{idempotency.OutcomeFirstRun, idempotency.OutcomeReplayed, idempotency.OutcomeReplayed},
	}, {
		name: "in progress",
		unary: func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
			close(started)
			<-blocked
			return charged(ctx, n, req)
		},
		run: func(t *testing.T, c testpb.TestServiceClient) {
			done := make(chan error, 1)
			go func() {
				_, err := c.UnaryCall(keyed(t.Context(), "k"), pay("1"))
				done <- err
			}()
			<-started
			_, err := c.UnaryCall(keyed(t.Context(), "k"), pay("1"))
			assert.Equal(t, codes.Aborted, status.Code(err))
			close(blocked)
			assert.NoError(t, <-done)
		},
		want: []idempotency.Outcome{idempotency.OutcomeInProgress, idempotency.OutcomeFirstRun},
	}, {
		name: "key reused", unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			_, err := c.UnaryCall(keyed(t.Context(), "k"), pay("1"))
			require.NoError(t, err)
			_, err = c.UnaryCall(keyed(t.Context(), "k"), pay("2"))
			assert.Equal(t, codes.FailedPrecondition, status.Code(err))
		},
		want: []idempotency.Outcome{idempotency.OutcomeFirstRun, idempotency.OutcomeKeyReused},
	}, {
		name: "invalid key", unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			ctx := metadata.AppendToOutgoingContext(t.Context(), rtgrpc.KeyMetadata, "a", rtgrpc.KeyMetadata, "b")
			_, err := c.UnaryCall(ctx, pay("1"))
			assert.Equal(t, codes.InvalidArgument, status.Code(err))
		},
		want: []idempotency.Outcome{idempotency.OutcomeInvalidKey},
	}, {
		name: "missing key, required", opts: rtgrpc.ServerOptions{Required: true}, unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			_, err := c.UnaryCall(t.Context(), pay("1"))
			assert.Equal(t, codes.InvalidArgument, status.Code(err))
		},
		want: []idempotency.Outcome{idempotency.OutcomeMissingKey},
	}, {
		name: "no key, let through", unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			_, err := c.UnaryCall(t.Context(), pay("1"))
			assert.NoError(t, err)
		},
	}, {
		name: "answer too large, then not stored", opts: rtgrpc.ServerOptions{MaxResponseBytes: 4}, unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			_, err := c.UnaryCall(keyed(t.Context(), "k"), pay(strings.Repeat("x", 64)))
			require.NoError(t, err)
			_, err = c.UnaryCall(keyed(t.Context(), "k"), pay(strings.Repeat("x", 64)))
			assert.Equal(t, codes.FailedPrecondition, status.Code(err))
		},
		want: []idempotency.Outcome{idempotency.OutcomeResponseTooLarge, idempotency.OutcomeNotStored},
	}, {
		name: "store unavailable", opts: rtgrpc.ServerOptions{Store: beginFails{}}, unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			_, err := c.UnaryCall(keyed(t.Context(), "k"), pay("1"))
			assert.Equal(t, codes.Unavailable, status.Code(err))
		},
		want: []idempotency.Outcome{idempotency.OutcomeStoreUnavailable},
	}, {
		name: "lease lost", opts: rtgrpc.ServerOptions{Store: completeLost{idempotency.NewMemoryStore(0, 0)}}, unary: charged,
		run: func(t *testing.T, c testpb.TestServiceClient) {
			_, err := c.UnaryCall(keyed(t.Context(), "k"), pay("1"))
			assert.NoError(t, err, "the answer went out, unstored")
		},
		want: []idempotency.Outcome{idempotency.OutcomeLeaseLost},
	}, {
		name: "released",
		unary: func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
			if string(req.GetPayload().GetBody()) == "panic" {
				panic("the handler failed")
			}
			return nil, errUnavailable
		},
		run: func(t *testing.T, c testpb.TestServiceClient) {
			_, err := c.UnaryCall(keyed(t.Context(), "k1"), pay("1"))
			assert.Equal(t, codes.Unavailable, status.Code(err))
			_, err = c.UnaryCall(keyed(t.Context(), "k2"), pay("panic"))
			assert.Equal(t, codes.Internal, status.Code(err))
		},
		want: []idempotency.Outcome{idempotency.OutcomeReleased, idempotency.OutcomeReleased},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := &outcomeLog{}
			o := c.opts
			o.OnOutcome = log.record
			o.Logger = quiet()
			addr := serve(t, &svc{unary: c.unary},
				grpc.ChainUnaryInterceptor(recoverer, rtgrpc.UnaryServerInterceptor(o)))
			c.run(t, dial(t, addr, once))
			assert.ElementsMatch(t, c.want, log.outcomes())
		})
	}
}

// With a TxStore, a failed commit is a store failure, and the retry a
// first run.
func TestServerOnOutcomeWithTxStore(t *testing.T) {
	store := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0)}
	log := &outcomeLog{}
	addr := serve(t, &svc{unary: charged}, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(
		rtgrpc.ServerOptions{Store: store, Logger: quiet(), OnOutcome: log.record})))
	client := dial(t, addr, once)
	store.failing.Store(true)
	_, err := client.UnaryCall(keyed(t.Context(), "k"), pay("1"))
	assert.Equal(t, codes.Unavailable, status.Code(err))
	store.failing.Store(false)
	_, err = client.UnaryCall(keyed(t.Context(), "k"), pay("1"))
	require.NoError(t, err)
	assert.Equal(t, []idempotency.Outcome{idempotency.OutcomeStoreUnavailable, idempotency.OutcomeFirstRun}, log.outcomes())
}

// A request that is not a protobuf message cannot be fingerprinted.
func TestServerOnOutcomeUnreadableRequest(t *testing.T) {
	log := &outcomeLog{}
	intercept := rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{Logger: quiet(), OnOutcome: log.record})
	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs(rtgrpc.KeyMetadata, "k"))
	_, err := intercept(ctx, "not a message", &grpc.UnaryServerInfo{FullMethod: unaryCall},
		func(context.Context, any) (any, error) { return nil, nil })
	assert.Equal(t, codes.Internal, status.Code(err))
	assert.Equal(t, []idempotency.Outcome{idempotency.OutcomeUnreadableBody}, log.outcomes())
}
