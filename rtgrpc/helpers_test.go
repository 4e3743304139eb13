package rtgrpc_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/rtchain/rtchain/rtgrpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// svc is grpc-go's interop TestService, scripted: each method's behaviour
// is a function of the call's number (from 1).
type svc struct {
	testpb.UnimplementedTestServiceServer
	calls  atomic.Int64
	unary  func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error)
	stream func(n int64, req *testpb.StreamingOutputCallRequest, srv testpb.TestService_StreamingOutputCallServer) error
	mu     sync.Mutex
	keys   []string // the idempotency-key of each call
}

func (s *svc) seen(ctx context.Context) int64 {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.keys = append(s.keys, md.Get(rtgrpc.KeyMetadata)...)
	s.mu.Unlock()
	return s.calls.Add(1)
}

func (s *svc) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	n := s.seen(ctx)
	if s.unary == nil {
		return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
	}
	return s.unary(ctx, n, req)
}

func (s *svc) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, srv testpb.TestService_StreamingOutputCallServer) error {
	return s.stream(s.seen(srv.Context()), req, srv)
}

func (s *svc) StreamingInputCall(srv testpb.TestService_StreamingInputCallServer) error {
	s.seen(srv.Context())
	return errUnavailable
}

// serve starts a real grpc-go server for s on loopback, stopped when the
// test ends, and returns its address.
func serve(t testing.TB, s *svc, opts ...grpc.ServerOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	testpb.RegisterTestServiceServer(srv, s)
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

// dial returns a client of addr through rtgrpc's interceptors with o.
func dial(t testing.TB, addr string, o rtgrpc.ClientOptions) testpb.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(o)),
		grpc.WithStreamInterceptor(rtgrpc.StreamClientInterceptor(o)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

// hangsFirst is a unary handler whose first call waits until its
// attempt's deadline, and whose others answer at once.
func hangsFirst(ctx context.Context, n int64, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if n == 1 {
		<-ctx.Done() // the attempt's deadline
		return nil, ctx.Err()
	}
	return &testpb.SimpleResponse{}, nil
}
