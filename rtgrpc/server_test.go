package rtgrpc_test

import (
	"context"
	"errors"
	"strings"
	"sync"
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
	"google.golang.org/protobuf/proto"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/rtgrpc"
)

// once is a client that never retries, to see each answer.
var once = rtgrpc.ClientOptions{MaxRetries: -1}

func keyed(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, rtgrpc.KeyMetadata, key)
}

func pay(body string) *testpb.SimpleRequest {
	return &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte(body)}}
}

// charged answers with the call's number, and metadata to replay.
func charged(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-charge", "yes"))
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-run", string(rune('0'+n)), "x-sig-bin", "\x00\xff"))
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: append([]byte("charged "), req.GetPayload().GetBody()...)},
		Username: strings.Repeat("n", int(n))}, nil
}

func TestServerRunsOnceAndReplays(t *testing.T) {
	s := &svc{unary: charged}
	var replays atomic.Int64
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{
		OnReplay: func(_ context.Context, m string) { replays.Add(1); assert.Equal(t, unaryCall, m) }})))
	client := dial(t, addr, once)
	var h1, t1, h2, t2 metadata.MD
	first, err := client.UnaryCall(keyed(t.Context(), "k"), pay("10 EUR"), grpc.Header(&h1), grpc.Trailer(&t1))
	require.NoError(t, err)
	again, err := client.UnaryCall(keyed(t.Context(), "k"), pay("10 EUR"), grpc.Header(&h2), grpc.Trailer(&t2))
	require.NoError(t, err)
	assert.True(t, proto.Equal(first, again), "the same answer: %v, %v", first, again)
	assert.Equal(t, int64(1), s.calls.Load(), "the handler ran once")
	assert.Empty(t, h1.Get(rtgrpc.ReplayedKey))
	assert.Equal(t, []string{"true"}, h2.Get(rtgrpc.ReplayedKey))
	assert.Equal(t, []string{"yes"}, h2.Get("x-charge"))
	assert.Equal(t, t1.Get("x-run"), t2.Get("x-run"))
	assert.Equal(t, []string{"\x00\xff"}, t2.Get("x-sig-bin"), "binary metadata, byte for byte")
	assert.Equal(t, int64(1), replays.Load())

	_, err = client.UnaryCall(t.Context(), pay("no key"))
	require.NoError(t, err)
	_, err = client.UnaryCall(t.Context(), pay("no key"))
	require.NoError(t, err)
	assert.Equal(t, int64(3), s.calls.Load(), "calls without a key run as they are")
}

func TestServerAnswers(t *testing.T) {
	s := &svc{unary: func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		switch string(req.GetPayload().GetBody()) {
		case "missing":
			return nil, status.Error(codes.NotFound, "no such account")
		case "flaky":
			if n%2 == 1 {
				return nil, status.Error(codes.Unavailable, "a moment")
			}
		case "big":
			return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, 4096)}}, nil
		}
		return charged(ctx, n, req)
	}}
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{MaxResponseBytes: 1024})))
	client := dial(t, addr, once)
	call := func(key, body string) error {
		_, err := client.UnaryCall(keyed(t.Context(), key), pay(body))
		return err
	}

	require.NoError(t, call("reuse", "10"))
	assert.Equal(t, codes.FailedPrecondition, status.Code(call("reuse", "11")), "a key reused with another request")
	assert.Equal(t, codes.InvalidArgument, status.Code(call(strings.Repeat("k", 256), "10")), "a key too long")

	before := s.calls.Load()
	assert.Equal(t, codes.NotFound, status.Code(call("nf", "missing")))
	err := call("nf", "missing")
	assert.Equal(t, codes.NotFound, status.Code(err), "a final error is stored")
	assert.Equal(t, "no such account", status.Convert(err).Message())
	assert.Equal(t, before+1, s.calls.Load(), "and replayed, not run again")

	assert.Equal(t, codes.Unavailable, status.Code(call("fl", "flaky")))
	assert.NoError(t, call("fl", "flaky"), "a retryable failure freed the key: the retry ran")

	require.NoError(t, call("big", "big"), "delivered")
	err = call("big", "big")
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "not stored, and never run twice")
	assert.Contains(t, status.Convert(err).Message(), "too large")
}

func TestServerRequiredAndKeyFromRequest(t *testing.T) {
	s := &svc{unary: charged}
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{
		Required: true,
		// A request_id field of the request: here, response_size stands in.
		Key: func(_ context.Context, req any) string {
			if r, ok := req.(*testpb.SimpleRequest); ok && r.GetResponseSize() > 0 {
				return "req-" + string(rune('0'+r.GetResponseSize()))
			}
			return ""
		},
	})))
	client := dial(t, addr, once)
	_, err := client.UnaryCall(t.Context(), pay("x"))
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "Required, and no key")
	req := &testpb.SimpleRequest{ResponseSize: 7, Payload: &testpb.Payload{Body: []byte("x")}}
	_, err = client.UnaryCall(t.Context(), req)
	require.NoError(t, err)
	var h metadata.MD
	_, err = client.UnaryCall(t.Context(), req, grpc.Header(&h))
	require.NoError(t, err)
	assert.Equal(t, []string{"true"}, h.Get(rtgrpc.ReplayedKey), "the key came from the request")
	assert.Equal(t, int64(1), s.calls.Load())
}

func TestServerInProgressIsAbortedWithPushback(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	s := &svc{unary: func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		if n == 1 {
			close(started)
			<-finish
		}
		return charged(ctx, n, req)
	}}
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{RetryAfter: 50 * time.Millisecond})))
	first := make(chan error, 1)
	go func() {
		_, err := dial(t, addr, once).UnaryCall(keyed(t.Context(), "k"), pay("1"))
		first <- err
	}()
	<-started
	var tr metadata.MD
	_, err := dial(t, addr, once).UnaryCall(keyed(t.Context(), "k"), pay("1"), grpc.Trailer(&tr))
	assert.Equal(t, codes.Aborted, status.Code(err))
	assert.Equal(t, []string{"50"}, tr.Get(rtgrpc.PushbackKey))

	// rtgrpc's client waits the pushback out, for any method, until the
	// first call's answer is there to replay.
	done, waited := make(chan error, 1), make(chan struct{})
	var once sync.Once
	retrying := rtgrpc.ClientOptions{MaxRetries: 50, OnRetry: func(e rtgrpc.RetryEvent) {
		assert.Equal(t, codes.Aborted, e.Status.Code())
		assert.True(t, e.FromPushback)
		once.Do(func() { close(waited) })
	}}
	go func() {
		_, err := dial(t, addr, retrying).UnaryCall(keyed(t.Context(), "k"), pay("1"))
		done <- err
	}()
	<-waited // it met the running call, and waits its pushback out
	close(finish)
	require.NoError(t, <-first)
	require.NoError(t, <-done)
	assert.Equal(t, int64(1), s.calls.Load())
}

// failing is a Store whose every call fails.
type failing struct{ idempotency.Store }

func (failing) Begin(context.Context, string, idempotency.Record, time.Duration) (idempotency.Record, bool, error) {
	return idempotency.Record{}, false, errors.New("store down")
}

func TestServerStoreFailureIsARefusal(t *testing.T) {
	s := &svc{unary: charged}
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{Store: failing{}, Logger: quiet()})))
	var tr metadata.MD
	_, err := dial(t, addr, once).UnaryCall(keyed(t.Context(), "k"), pay("1"), grpc.Trailer(&tr))
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, []string{"1000"}, tr.Get(rtgrpc.PushbackKey))
	assert.Zero(t, s.calls.Load(), "never an unguarded run")
}

func TestServerPanicReleasesTheKey(t *testing.T) {
	store := idempotency.NewMemoryStore(0, 0)
	intercept := rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{Store: store})
	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs(rtgrpc.KeyMetadata, "k"))
	info := &grpc.UnaryServerInfo{FullMethod: unaryCall}
	assert.PanicsWithValue(t, "boom", func() {
		_, _ = intercept(ctx, pay("1"), info, func(context.Context, any) (any, error) { panic("boom") })
	})
	ran := false
	_, err := intercept(ctx, pay("1"), info, func(context.Context, any) (any, error) {
		ran = true
		return &testpb.SimpleResponse{}, nil
	})
	require.NoError(t, err)
	assert.True(t, ran, "the key was free again")
}
