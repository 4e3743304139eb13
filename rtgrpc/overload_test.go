package rtgrpc_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/overload"
	"github.com/rtchain/rtchain/rtgrpc"
)

// held is a service whose first call waits until open is closed, and
// says so on entered.
func held() (s *svc, entered chan struct{}, open chan struct{}) {
	entered, open = make(chan struct{}), make(chan struct{})
	s = &svc{unary: func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		if n == 1 {
			close(entered)
			<-open
		}
		return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
	}}
	return s, entered, open
}

// oneAtATime is a Limiter that admits one call at a time, queueing up to
// queue more (negative: none).
func oneAtATime(queue int) *overload.Limiter {
	return overload.NewLimiter(overload.LimiterOptions{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, Queue: queue})
}

// plain returns a client of addr with no retries of its own.
func plain(t *testing.T, addr string) testpb.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

func TestOverloadRefusesTheExcess(t *testing.T) {
	s, entered, open := held()
	var shed []overload.ShedEvent
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.OverloadUnaryServerInterceptor(rtgrpc.OverloadOptions{
		Limiter: oneAtATime(-1),
		OnShed: func(_ context.Context, method string, e overload.ShedEvent) {
			assert.Equal(t, "/grpc.testing.TestService/UnaryCall", method)
			shed = append(shed, e)
		},
	})))
	client := plain(t, addr)
	first := make(chan error, 1)
	go func() { _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); first <- err }()
	<-entered

	var trailer metadata.MD
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}, grpc.Trailer(&trailer))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "rtgrpc: over the concurrency limit")
	require.Len(t, trailer.Get(rtgrpc.PushbackKey), 1)
	ms, err := strconv.Atoi(trailer.Get(rtgrpc.PushbackKey)[0])
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ms, int(overload.MinRetryAfter.Milliseconds()))

	close(open)
	require.NoError(t, <-first)
	assert.EqualValues(t, 1, s.calls.Load(), "the refused call never ran")
	require.Len(t, shed, 1)
	assert.ErrorIs(t, shed[0].Err, overload.ErrOverloaded)
}

func TestOverloadShedsRetriesFirst(t *testing.T) {
	s, entered, open := held()
	l := oneAtATime(0)
	refused := make(chan overload.Priority, 1)
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.OverloadUnaryServerInterceptor(rtgrpc.OverloadOptions{
		Limiter: l,
		OnShed:  func(_ context.Context, _ string, e overload.ShedEvent) { refused <- e.Priority },
	})))
	client := plain(t, addr)
	first := make(chan error, 1)
	go func() { _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); first <- err }()
	<-entered

	retry := metadata.AppendToOutgoingContext(t.Context(), rtgrpc.PreviousAttemptsKey, "1")
	_, err := client.UnaryCall(retry, &testpb.SimpleRequest{})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "a retry does not wait: it is refused")
	assert.Equal(t, overload.Sheddable, <-refused)

	later := make(chan error, 1)
	go func() { _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); later <- err }()
	close(open)
	require.NoError(t, <-first)
	require.NoError(t, <-later, "a first attempt waits for the slot, and is served")
	assert.EqualValues(t, 2, s.calls.Load())
}

func TestOverloadCriticalPasses(t *testing.T) {
	s, entered, open := held()
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.OverloadUnaryServerInterceptor(rtgrpc.OverloadOptions{
		Limiter: overload.NewLimiter(overload.LimiterOptions{InitialLimit: 1, MinLimit: 1, MaxLimit: 2, Queue: -1}),
		Priority: func(ctx context.Context, _ string) overload.Priority {
			if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("health")) > 0 {
				return overload.Critical
			}
			return overload.Normal
		},
	})))
	client := plain(t, addr)
	first := make(chan error, 1)
	go func() { _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); first <- err }()
	<-entered
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	_, err = client.UnaryCall(metadata.AppendToOutgoingContext(t.Context(), "health", "1"), &testpb.SimpleRequest{})
	assert.NoError(t, err, "Critical passes the limit")
	close(open)
	require.NoError(t, <-first)
}

// rtchain's client retries the refusal after the pushback, for any method.
func TestOverloadRefusalRetriedByTheClient(t *testing.T) {
	s, entered, open := held()
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.OverloadUnaryServerInterceptor(rtgrpc.OverloadOptions{
		Limiter: oneAtATime(-1),
		OnShed: func(context.Context, string, overload.ShedEvent) {
			select {
			case <-open:
			default:
				close(open) // the first call ends as the second is refused
			}
		},
	})))
	first := make(chan error, 1)
	go func() { _, err := plain(t, addr).UnaryCall(t.Context(), &testpb.SimpleRequest{}); first <- err }()
	<-entered
	_, err := dial(t, addr, rtgrpc.ClientOptions{}).UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	require.NoError(t, <-first)
	assert.EqualValues(t, 2, s.calls.Load())
}

func TestOverloadPanicReleasesItsSlot(t *testing.T) {
	l := oneAtATime(-1)
	intercept := rtgrpc.OverloadUnaryServerInterceptor(rtgrpc.OverloadOptions{Limiter: l})
	info := &grpc.UnaryServerInfo{FullMethod: "/pkg.Service/Method"}
	assert.PanicsWithValue(t, "boom", func() {
		_, _ = intercept(t.Context(), nil, info, func(context.Context, any) (any, error) { panic("boom") })
	})
	assert.Equal(t, 0, l.InFlight())
	resp, err := intercept(t.Context(), nil, info, func(context.Context, any) (any, error) { return "ok", nil })
	require.NoError(t, err)
	assert.Equal(t, "ok", resp)
}

func TestIsRetryCall(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"", false}, {"0", false}, {"1", true}, {"4", true}, {"x", false}} {
		t.Run(strconv.Quote(tc.value), func(t *testing.T) {
			ctx := t.Context()
			if tc.value != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(rtgrpc.PreviousAttemptsKey, tc.value))
			}
			assert.Equal(t, tc.want, rtgrpc.IsRetryCall(ctx))
		})
	}
}
