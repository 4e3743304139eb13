package rtgrpc_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/rtgrpc"
	"github.com/rtchain/rtchain/transport"
)

// health is the standard health service, scripted: Check answers
// Unavailable to its first fails calls (to every call, if fails < 0), and
// SERVING after them.
type health struct {
	healthpb.UnimplementedHealthServer
	fails int64
	calls atomic.Int64
}

func (h *health) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if n := h.calls.Add(1); h.fails < 0 || n <= h.fails {
		return nil, status.Error(codes.Unavailable, "not ready")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// serveHealth starts a real grpc-go server for h on loopback, stopped when
// the test ends, and returns its address.
func serveHealth(t *testing.T, h *health) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

// closedPort returns a loopback address that refuses connections: a port
// that was free a moment ago, its listener closed.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// hooks records what OnRetry, OnGiveUp and OnAttempt were told.
type hooks struct {
	mu       sync.Mutex
	retries  []rtgrpc.RetryEvent
	giveUps  []rtgrpc.GiveUpEvent
	attempts []rtgrpc.AttemptEvent
}

// options returns o with its OnRetry, OnGiveUp and OnAttempt recording
// into h, and waits of a millisecond.
func (h *hooks) options(o rtgrpc.ClientOptions) rtgrpc.ClientOptions {
	o.BaseDelay = time.Millisecond
	o.OnAttempt = func(e rtgrpc.AttemptEvent) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts = append(h.attempts, e)
	}
	o.OnRetry = func(e rtgrpc.RetryEvent) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.retries = append(h.retries, e)
	}
	o.OnGiveUp = func(e rtgrpc.GiveUpEvent) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.giveUps = append(h.giveUps, e)
	}
	return o
}

// gaveUp returns the reasons OnGiveUp was told, and the attempt each
// named.
func (h *hooks) gaveUp() (reasons []transport.GiveUpReason, attempts []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.giveUps {
		reasons, attempts = append(reasons, e.Reason), append(attempts, e.Attempt)
	}
	return reasons, attempts
}

// attemptTypes returns what OnAttempt was told of each attempt, in order:
// "original", "retry" or "transparent".
func (h *hooks) attemptTypes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var types []string
	for i, e := range h.attempts {
		switch {
		case e.Attempt != i+1:
			types = append(types, fmt.Sprintf("attempt %d told as %d", i+1, e.Attempt))
		case e.Attempt == 1 && !e.Transparent:
			types = append(types, "original")
		case e.Transparent:
			types = append(types, "transparent")
		default:
			types = append(types, "retry")
		}
	}
	return types
}

// attemptTypes returns an original attempt's type and n retries' of type
// kind.
func attemptTypes(n int, kind string) []string {
	types := []string{"original"}
	for range n {
		types = append(types, kind)
	}
	return types
}

func (h *hooks) retried() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.retries)
}

// conn returns a ClientConn to addr through rtgrpc's interceptors with o.
func conn(t *testing.T, addr string, o rtgrpc.ClientOptions) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(o)),
		grpc.WithStreamInterceptor(rtgrpc.StreamClientInterceptor(o)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// The health protocol's Check has no side effects, though its descriptor
// declares no idempotency_level: with the default options, an Unavailable
// from it is retried, and OnGiveUp says when the retries end.
func TestHealthCheckUnavailableIsRetriedByDefault(t *testing.T) {
	t.Run("Unavailable once, then SERVING", func(t *testing.T) {
		var h hooks
		srv := &health{fails: 1}
		client := healthpb.NewHealthClient(conn(t, serveHealth(t, srv), h.options(rtgrpc.ClientOptions{})))
		resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
		assert.Equal(t, int64(2), srv.calls.Load(), "calls the server saw")
		assert.Equal(t, 1, h.retried())
		assert.Equal(t, []string{"original", "retry"}, h.attemptTypes(), "the server saw the first")
	})
	t.Run("Unavailable to every attempt", func(t *testing.T) {
		var h hooks
		srv := &health{fails: -1}
		client := healthpb.NewHealthClient(conn(t, serveHealth(t, srv), h.options(rtgrpc.ClientOptions{})))
		_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
		assert.Equal(t, int64(1+rtgrpc.DefaultMaxRetries), srv.calls.Load(), "calls the server saw")
		assert.Equal(t, rtgrpc.DefaultMaxRetries, h.retried())
		reasons, attempts := h.gaveUp()
		assert.Equal(t, []transport.GiveUpReason{transport.GiveUpMaxRetries}, reasons)
		assert.Equal(t, []int{1 + rtgrpc.DefaultMaxRetries}, attempts)
		assert.Equal(t, attemptTypes(rtgrpc.DefaultMaxRetries, "retry"), h.attemptTypes(), "the server saw each")
	})
}

// A call to a port that refuses connections never left the client: it is
// retried whatever the method (UnaryCall may have side effects), as
// transport.Retry retries a refused connection for a POST, and OnGiveUp
// says when the retries end.
func TestRefusedConnectionIsRetriedWhateverTheMethod(t *testing.T) {
	wantGaveUp := func(t *testing.T, h *hooks) {
		t.Helper()
		assert.Equal(t, rtgrpc.DefaultMaxRetries, h.retried())
		reasons, attempts := h.gaveUp()
		assert.Equal(t, []transport.GiveUpReason{transport.GiveUpMaxRetries}, reasons)
		assert.Equal(t, []int{1 + rtgrpc.DefaultMaxRetries}, attempts)
		assert.Equal(t, attemptTypes(rtgrpc.DefaultMaxRetries, "transparent"), h.attemptTypes(), "nothing left the client")
	}
	t.Run("unary", func(t *testing.T) {
		var h hooks
		client := testpb.NewTestServiceClient(conn(t, closedPort(t), h.options(rtgrpc.ClientOptions{})))
		_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
		wantGaveUp(t, &h)
	})
	t.Run("unary, wait for ready: the per-try timeout fires before a connection", func(t *testing.T) {
		var h hooks
		client := testpb.NewTestServiceClient(conn(t, closedPort(t), h.options(rtgrpc.ClientOptions{PerTryTimeout: 20 * time.Millisecond})))
		_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}, grpc.WaitForReady(true))
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
		wantGaveUp(t, &h)
	})
	t.Run("server-streaming", func(t *testing.T) {
		var h hooks
		client := testpb.NewTestServiceClient(conn(t, closedPort(t), h.options(rtgrpc.ClientOptions{})))
		_, err := client.StreamingOutputCall(t.Context(), &testpb.StreamingOutputCallRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
		wantGaveUp(t, &h)
	})
	t.Run("client-streaming: the stream could not be opened", func(t *testing.T) {
		var h hooks
		client := testpb.NewTestServiceClient(conn(t, closedPort(t), h.options(rtgrpc.ClientOptions{})))
		_, err := client.StreamingInputCall(t.Context())
		assert.Equal(t, codes.Unavailable, status.Code(err))
		wantGaveUp(t, &h)
	})
	t.Run("bidirectional: the stream could not be opened", func(t *testing.T) {
		var h hooks
		client := testpb.NewTestServiceClient(conn(t, closedPort(t), h.options(rtgrpc.ClientOptions{})))
		_, err := client.FullDuplexCall(t.Context())
		assert.Equal(t, codes.Unavailable, status.Code(err))
		wantGaveUp(t, &h)
	})
}

// The other side of the rule: an Unavailable that came back from a server
// (the call reached it) to a method that may have acted is not retried,
// and no limit stopped a retry, so OnGiveUp is not told.
func TestUnavailableFromTheServerToAMethodThatMayHaveActed(t *testing.T) {
	var h hooks
	s := &svc{unary: func(context.Context, int64, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return nil, errUnavailable
	}}
	client := testpb.NewTestServiceClient(conn(t, serve(t, s), h.options(rtgrpc.ClientOptions{})))
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, int64(1), s.calls.Load())
	assert.Zero(t, h.retried())
	reasons, _ := h.gaveUp()
	assert.Empty(t, reasons)
}

// An Unavailable that grpc-go raises itself because the connection broke
// after the request went out (here, the server stops while the call runs)
// says nothing of what the server did: it is not retried for a method that
// may have acted.
func TestConnectionLostAfterTheRequestLeft(t *testing.T) {
	started := make(chan struct{})
	s := &svc{unary: func(ctx context.Context, n int64, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		if n == 1 {
			close(started)
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, s)
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Stop(); <-done })

	var h hooks
	client := testpb.NewTestServiceClient(conn(t, ln.Addr().String(), h.options(rtgrpc.ClientOptions{})))
	go func() {
		<-started
		srv.Stop()
	}()
	_, err = client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Equal(t, int64(1), s.calls.Load())
	assert.Zero(t, h.retried())
	reasons, _ := h.gaveUp()
	assert.Empty(t, reasons)
}

// A server that starts listening after the first refusal is reached by a
// retry once grpc-go dials again, on its own connection backoff (about a
// second after the failed dial): until then each attempt fails at once,
// without touching the network. Waits that span that second reach it.
func TestRefusedConnectionThenTheServerIsUp(t *testing.T) {
	addr := closedPort(t)
	s := &svc{}
	var srv *grpc.Server
	done := make(chan struct{})
	t.Cleanup(func() {
		if srv != nil {
			srv.Stop()
			<-done
		}
	})
	var refused int
	o := rtgrpc.ClientOptions{MaxRetries: 40, BaseDelay: 200 * time.Millisecond, MaxDelay: 300 * time.Millisecond,
		OnRetry: func(e rtgrpc.RetryEvent) {
			assert.Equal(t, codes.Unavailable, e.Status.Code())
			refused++
			if srv != nil {
				return
			}
			ln, err := net.Listen("tcp", addr) // the caller's goroutine: the interceptor calls OnRetry there
			if err != nil {
				t.Skipf("the port was taken meanwhile: %v", err)
			}
			srv = grpc.NewServer()
			testpb.RegisterTestServiceServer(srv, s)
			go func() { _ = srv.Serve(ln); close(done) }()
		}}
	client := testpb.NewTestServiceClient(conn(t, addr, o))
	begun := time.Now()
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), s.calls.Load(), "the server saw the call once")
	assert.Greater(t, refused, 1, "attempts before grpc-go dialled again failed at once")
	assert.Greater(t, time.Since(begun), 500*time.Millisecond, "grpc-go's connection backoff: about a second")
}
