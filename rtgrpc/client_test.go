package rtgrpc_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/rtgrpc"
	"github.com/rtchain/rtchain/transport"
)

var errUnavailable = status.Error(codes.Unavailable, "down")

const unaryCall = "/grpc.testing.TestService/UnaryCall"

// failFirst answers the first call with code (and a pushback, if set), and
// the others OK.
func failFirst(code codes.Code, pushback string) func(context.Context, int64, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		if n > 1 {
			return &testpb.SimpleResponse{}, nil
		}
		if pushback != "" {
			_ = grpc.SetTrailer(ctx, metadata.Pairs(rtgrpc.PushbackKey, pushback))
		}
		return nil, status.Error(code, "scripted")
	}
}

func TestUnaryRetryRules(t *testing.T) {
	safe := func(string) bool { return true }
	for _, c := range []struct {
		name     string
		code     codes.Code
		pushback string
		o        rtgrpc.ClientOptions
		calls    int64
	}{
		{"Unavailable, a method that may have acted", codes.Unavailable, "", rtgrpc.ClientOptions{}, 1},
		{"Unavailable, an idempotent method", codes.Unavailable, "", rtgrpc.ClientOptions{Idempotent: safe}, 2},
		{"Unavailable, a keyed call", codes.Unavailable, "", rtgrpc.ClientOptions{IdempotencyKeys: true}, 2},
		{"Unavailable with a pushback: a refusal, any method", codes.Unavailable, "1", rtgrpc.ClientOptions{}, 2},
		{"ResourceExhausted: a refusal, any method", codes.ResourceExhausted, "", rtgrpc.ClientOptions{}, 2},
		{"Aborted with a pushback: in progress, any method", codes.Aborted, "1", rtgrpc.ClientOptions{}, 2},
		{"Aborted without one", codes.Aborted, "", rtgrpc.ClientOptions{Idempotent: safe}, 1},
		{"a negative pushback stops", codes.Unavailable, "-1", rtgrpc.ClientOptions{Idempotent: safe}, 1},
		{"a malformed pushback stops", codes.ResourceExhausted, "soon", rtgrpc.ClientOptions{}, 1},
		{"InvalidArgument", codes.InvalidArgument, "", rtgrpc.ClientOptions{Idempotent: safe}, 1},
		{"NotFound", codes.NotFound, "", rtgrpc.ClientOptions{Idempotent: safe}, 1},
		{"Internal", codes.Internal, "", rtgrpc.ClientOptions{Idempotent: safe}, 1},
		{"Unknown", codes.Unknown, "", rtgrpc.ClientOptions{Idempotent: safe}, 1},
		{"Internal, widened by Retryable", codes.Internal, "", rtgrpc.ClientOptions{Idempotent: safe,
			Retryable: func(s *status.Status) bool { return s.Code() == codes.Internal }}, 2},
		{"Internal, widened, but a method that may have acted", codes.Internal, "", rtgrpc.ClientOptions{
			Retryable: func(s *status.Status) bool { return s.Code() == codes.Internal }}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &svc{unary: failFirst(c.code, c.pushback)}
			c.o.BaseDelay = time.Millisecond
			client := dial(t, serve(t, s), c.o)
			_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
			assert.Equal(t, c.calls, s.calls.Load(), "calls the server saw")
			if c.calls == 2 {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, c.code, status.Code(err))
			}
		})
	}
}

func TestKeyIsTheSameOnEveryAttempt(t *testing.T) {
	s := &svc{unary: failFirst(codes.Unavailable, "")}
	client := dial(t, serve(t, s), rtgrpc.ClientOptions{IdempotencyKeys: true, BaseDelay: time.Millisecond})
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	require.Len(t, s.keys, 2)
	assert.Equal(t, s.keys[0], s.keys[1])
	assert.Len(t, s.keys[0], 32)
	_, err = client.UnaryCall(metadata.AppendToOutgoingContext(t.Context(), rtgrpc.KeyMetadata, "mine"), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.Equal(t, "mine", s.keys[2], "the caller's key is kept")
}

func TestPushbackIsWaitedAndCapped(t *testing.T) {
	s := &svc{unary: failFirst(codes.ResourceExhausted, "300")}
	var waits []time.Duration
	client := dial(t, serve(t, s), rtgrpc.ClientOptions{OnRetry: func(e rtgrpc.RetryEvent) {
		assert.True(t, e.FromPushback)
		assert.Equal(t, unaryCall, e.Method)
		waits = append(waits, e.Wait)
	}})
	begun := time.Now()
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(begun), 300*time.Millisecond)
	assert.Equal(t, []time.Duration{300 * time.Millisecond}, waits)

	s = &svc{unary: failFirst(codes.ResourceExhausted, "60000")}
	var gaveUp []transport.GiveUpReason
	client = dial(t, serve(t, s), rtgrpc.ClientOptions{OnGiveUp: func(e rtgrpc.GiveUpEvent) { gaveUp = append(gaveUp, e.Reason) }})
	_, err = client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, []transport.GiveUpReason{transport.GiveUpRetryAfter}, gaveUp, "a minute is over MaxPushback")
	assert.Equal(t, int64(1), s.calls.Load())
}

func TestPerTryTimeoutNotTheCallersDeadline(t *testing.T) {
	s := &svc{unary: hangsFirst}
	client := dial(t, serve(t, s), rtgrpc.ClientOptions{PerTryTimeout: 100 * time.Millisecond,
		Idempotent: func(string) bool { return true }, BaseDelay: time.Millisecond})
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err, "the per-try timeout fired: retried")
	assert.Equal(t, int64(2), s.calls.Load())

	s = &svc{unary: hangsFirst}
	client = dial(t, serve(t, s), rtgrpc.ClientOptions{Idempotent: func(string) bool { return true }})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "the caller's deadline: never retried")
	assert.Equal(t, int64(1), s.calls.Load())
}

func TestBudgetBoundsRetries(t *testing.T) {
	s := &svc{unary: func(context.Context, int64, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return nil, errUnavailable
	}}
	var budget atomic.Int64
	client := dial(t, serve(t, s), rtgrpc.ClientOptions{Idempotent: func(string) bool { return true },
		BaseDelay: time.Millisecond, Budget: transport.RetryBudget{Ratio: 0.1, MaxBanked: 1, MinPerSecond: -1},
		OnGiveUp: func(e rtgrpc.GiveUpEvent) {
			if e.Reason == transport.GiveUpBudget {
				budget.Add(1)
			}
		}})
	for range 10 {
		_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
	}
	assert.Equal(t, int64(11), s.calls.Load(), "10 calls and the bank's 1 retry: 10 calls at 10% pay for 0.9 of one more")
	assert.Equal(t, int64(10), budget.Load(), "every call ended for want of budget")
}

func TestServerStreamRetriedBeforeItsFirstMessageOnly(t *testing.T) {
	safe := rtgrpc.ClientOptions{Idempotent: func(string) bool { return true }, BaseDelay: time.Millisecond}
	send := func(srv testpb.TestService_StreamingOutputCallServer, k int) error {
		for i := range k {
			if err := srv.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: []byte{byte(i)}}}); err != nil {
				return err
			}
		}
		return nil
	}
	recvAll := func(stream testpb.TestService_StreamingOutputCallClient) (int, error) {
		n := 0
		for {
			_, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}

	s := &svc{stream: func(n int64, _ *testpb.StreamingOutputCallRequest, srv testpb.TestService_StreamingOutputCallServer) error {
		if n == 1 {
			return errUnavailable // before any message
		}
		return send(srv, 3)
	}}
	stream, err := dial(t, serve(t, s), safe).StreamingOutputCall(t.Context(), &testpb.StreamingOutputCallRequest{})
	require.NoError(t, err)
	got, err := recvAll(stream)
	require.NoError(t, err)
	assert.Equal(t, 3, got)
	assert.Equal(t, int64(2), s.calls.Load())

	s = &svc{stream: func(n int64, _ *testpb.StreamingOutputCallRequest, srv testpb.TestService_StreamingOutputCallServer) error {
		if err := send(srv, 1); err != nil {
			return err
		}
		return errUnavailable // after the first message: the commit point is passed
	}}
	stream, err = dial(t, serve(t, s), safe).StreamingOutputCall(t.Context(), &testpb.StreamingOutputCallRequest{})
	require.NoError(t, err)
	got, err = recvAll(stream)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, 1, got, "what arrived is not replayed")
	assert.Equal(t, int64(1), s.calls.Load())
}

func TestClientStreamsAreNotRetried(t *testing.T) {
	s := &svc{}
	stream, err := dial(t, serve(t, s), rtgrpc.ClientOptions{Idempotent: func(string) bool { return true }}).StreamingInputCall(t.Context())
	require.NoError(t, err)
	_, err = stream.CloseAndRecv()
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, int64(1), s.calls.Load())
}
