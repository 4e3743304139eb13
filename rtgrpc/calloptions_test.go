package rtgrpc_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/rtgrpc"
	"github.com/rtchain/rtchain/transport"
)

// always answers every call with code.
func always(code codes.Code) func(context.Context, int64, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return func(context.Context, int64, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return nil, status.Error(code, "scripted")
	}
}

// The call options change, for one call, what the options say: how many
// retries, whether the method may be sent twice, which codes are retried.
// The last WithMaxRetries wins; a method that may have acted is still not
// retried for a code that WithRetryable widens, unless WithRepeatable says
// it may be sent twice.
func TestUnaryCallOptions(t *testing.T) {
	internal := rtgrpc.WithRetryable(func(s *status.Status) bool { return s.Code() == codes.Internal })
	for _, c := range []struct {
		name   string
		unary  func(context.Context, int64, *testpb.SimpleRequest) (*testpb.SimpleResponse, error)
		o      rtgrpc.ClientOptions
		opts   []grpc.CallOption
		calls  int64
		failed bool
	}{
		{"no options", always(codes.ResourceExhausted), rtgrpc.ClientOptions{}, nil, 4, true},
		{"WithMaxRetries(0)", always(codes.ResourceExhausted), rtgrpc.ClientOptions{}, []grpc.CallOption{rtgrpc.WithMaxRetries(0)}, 1, true},
		{"WithMaxRetries(5) over MaxRetries 1", always(codes.ResourceExhausted), rtgrpc.ClientOptions{MaxRetries: 1},
			[]grpc.CallOption{rtgrpc.WithMaxRetries(5)}, 6, true},
		{"WithMaxRetries(2) where the options send once", always(codes.ResourceExhausted), rtgrpc.ClientOptions{MaxRetries: -1},
			[]grpc.CallOption{rtgrpc.WithMaxRetries(2)}, 3, true},
		{"the last WithMaxRetries wins", always(codes.ResourceExhausted), rtgrpc.ClientOptions{},
			[]grpc.CallOption{rtgrpc.WithMaxRetries(0), rtgrpc.WithMaxRetries(1)}, 2, true},
		{"Unavailable, a method that may have acted", failFirst(codes.Unavailable, ""), rtgrpc.ClientOptions{}, nil, 1, true},
		{"Unavailable, WithRepeatable", failFirst(codes.Unavailable, ""), rtgrpc.ClientOptions{},
			[]grpc.CallOption{rtgrpc.WithRepeatable()}, 2, false},
		{"Internal, WithRetryable, a method that may have acted", failFirst(codes.Internal, ""), rtgrpc.ClientOptions{},
			[]grpc.CallOption{internal}, 1, true},
		{"Internal, WithRetryable and WithRepeatable", failFirst(codes.Internal, ""), rtgrpc.ClientOptions{},
			[]grpc.CallOption{internal, rtgrpc.WithRepeatable()}, 2, false},
		{"Internal, WithRetryable, a pushback that says stop", failFirst(codes.Internal, "-1"), rtgrpc.ClientOptions{},
			[]grpc.CallOption{internal, rtgrpc.WithRepeatable()}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &svc{unary: c.unary}
			c.o.BaseDelay = time.Millisecond
			client := dial(t, serve(t, s), c.o)
			_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}, c.opts...)
			assert.Equal(t, c.calls, s.calls.Load(), "calls the server saw")
			assert.Equal(t, c.failed, err != nil, "%v", err)
		})
	}
}

// The options passed by default to every call of a connection
// (grpc.WithDefaultCallOptions) reach the interceptor too.
func TestDefaultCallOptions(t *testing.T) {
	s := &svc{unary: failFirst(codes.Unavailable, "")}
	cc, err := grpc.NewClient(serve(t, s), grpc.WithTransportCredentials(insecureCreds()),
		grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(rtgrpc.ClientOptions{BaseDelay: time.Millisecond})),
		grpc.WithDefaultCallOptions(rtgrpc.WithRepeatable()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	_, err = testpb.NewTestServiceClient(cc).UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), s.calls.Load())
}

// A call's own MaxRetries never bypasses the target's retry budget.
func TestWithMaxRetriesSpendsTheBudget(t *testing.T) {
	s := &svc{unary: always(codes.ResourceExhausted)}
	var reasons []transport.GiveUpReason
	client := dial(t, serve(t, s), rtgrpc.ClientOptions{BaseDelay: time.Millisecond,
		Budget:   transport.RetryBudget{Ratio: 0.001, MaxBanked: 0.001, MinPerSecond: -1},
		OnGiveUp: func(e rtgrpc.GiveUpEvent) { reasons = append(reasons, e.Reason) }})
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}, rtgrpc.WithMaxRetries(10))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, int64(1), s.calls.Load())
	assert.Equal(t, []transport.GiveUpReason{transport.GiveUpBudget}, reasons)
}

// WithPerTryTimeout replaces the options' per-try timeout for one call: a
// hung first attempt is cut and retried; with none, a slow answer arrives.
func TestWithPerTryTimeout(t *testing.T) {
	s := &svc{unary: hangsFirst}
	client := dial(t, serve(t, s), rtgrpc.ClientOptions{BaseDelay: time.Millisecond})
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{},
		rtgrpc.WithPerTryTimeout(50*time.Millisecond), rtgrpc.WithRepeatable())
	require.NoError(t, err, "the call's per-try timeout fired: retried")
	assert.Equal(t, int64(2), s.calls.Load())

	slow := func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		select {
		case <-time.After(200 * time.Millisecond): // a slow server, not a hung one
			return &testpb.SimpleResponse{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s = &svc{unary: slow}
	client = dial(t, serve(t, s), rtgrpc.ClientOptions{PerTryTimeout: 20 * time.Millisecond, MaxRetries: -1})
	_, err = client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "the options' per-try timeout")
	_, err = client.UnaryCall(t.Context(), &testpb.SimpleRequest{}, rtgrpc.WithPerTryTimeout(0))
	require.NoError(t, err, "none for this call")
}

// A server stream follows its call options before its first message.
func TestServerStreamCallOptions(t *testing.T) {
	failing := func(code codes.Code) func(int64, *testpb.StreamingOutputCallRequest, testpb.TestService_StreamingOutputCallServer) error {
		return func(n int64, _ *testpb.StreamingOutputCallRequest, srv testpb.TestService_StreamingOutputCallServer) error {
			if n == 1 {
				return status.Error(code, "scripted") // before any message
			}
			return srv.Send(&testpb.StreamingOutputCallResponse{})
		}
	}
	for _, c := range []struct {
		name  string
		code  codes.Code
		opts  []grpc.CallOption
		calls int64
		ok    bool
	}{
		{"Unavailable", codes.Unavailable, nil, 1, false},
		{"Unavailable, WithRepeatable", codes.Unavailable, []grpc.CallOption{rtgrpc.WithRepeatable()}, 2, true},
		{"ResourceExhausted", codes.ResourceExhausted, nil, 2, true},
		{"ResourceExhausted, WithMaxRetries(0)", codes.ResourceExhausted, []grpc.CallOption{rtgrpc.WithMaxRetries(0)}, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &svc{stream: failing(c.code)}
			client := dial(t, serve(t, s), rtgrpc.ClientOptions{BaseDelay: time.Millisecond})
			stream, err := client.StreamingOutputCall(t.Context(), &testpb.StreamingOutputCallRequest{}, c.opts...)
			require.NoError(t, err)
			_, err = stream.Recv()
			assert.Equal(t, c.ok, err == nil, "%v", err)
			if err == nil {
				_, err = stream.Recv()
				assert.True(t, errors.Is(err, io.EOF), "%v", err)
			}
			assert.Equal(t, c.calls, s.calls.Load())
		})
	}
}

func TestCallOptionsPanic(t *testing.T) {
	assert.PanicsWithValue(t, "rtgrpc: WithMaxRetries: negative n", func() { rtgrpc.WithMaxRetries(-1) })
	assert.PanicsWithValue(t, "rtgrpc: WithPerTryTimeout: negative duration", func() { rtgrpc.WithPerTryTimeout(-1) })
}

// The call options cost nothing when a call has none, and nothing of their
// own when it has some: no allocation beyond the interceptor's.
func TestCallOptionsCostNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	cc, err := grpc.NewClient("passthrough:///allocs", grpc.WithTransportCredentials(insecureCreds()))
	require.NoError(t, err)
	defer cc.Close()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	intercept := rtgrpc.UnaryClientInterceptor(rtgrpc.ClientOptions{})
	req, reply := &testpb.SimpleRequest{}, &testpb.SimpleResponse{}
	allocs := func(opts ...grpc.CallOption) float64 {
		return testing.AllocsPerRun(200, func() {
			_ = intercept(context.Background(), unaryCall, req, reply, cc, invoker, opts...)
		})
	}
	without := allocs()
	with := allocs(rtgrpc.WithMaxRetries(2), rtgrpc.WithRepeatable(), rtgrpc.WithPerTryTimeout(0))
	t.Logf("allocations a call: %v without call options, %v with", without, with)
	assert.LessOrEqual(t, with, without)
}
