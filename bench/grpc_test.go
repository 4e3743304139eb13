package bench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	grpcretry "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/rtgrpc"
)

// grpcSvc is a backend: requests counts what reaches the server, effects
// what reaches the handler (its runs); answer, given the request's number,
// refuses or fails it before the handler, and lose, when set, makes the
// answer of a run that happened get lost (the call ends Unavailable).
type grpcSvc struct {
	testpb.UnimplementedTestServiceServer
	requests, effects atomic.Int64
	answer            func(ctx context.Context, n int64) error
	lose              func(n int64) bool
}

func (s *grpcSvc) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.effects.Add(1)
	return &testpb.SimpleResponse{}, nil
}

// front is the server's outermost interceptor: it counts, refuses, and
// loses answers after the handler (and rtgrpc's interceptor, when there is
// one) has run.
func (s *grpcSvc) front(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	n := s.requests.Add(1)
	if s.answer != nil {
		if err := s.answer(ctx, n); err != nil {
			return nil, err
		}
	}
	resp, err := next(ctx, req)
	if err == nil && s.lose != nil && s.lose(n) {
		return nil, status.Error(codes.Unavailable, "connection lost") // after the effect
	}
	return resp, err
}

// grpcPeer is one gRPC retry client, configured for 3 retries.
type grpcPeer struct {
	name string
	opts []grpc.DialOption
}

// The peers: rtgrpc's defaults (and with keys, against its server
// interceptor), go-grpc-middleware v2's retry (WithMax(3): 3 attempts, 2 retries, of Unavailable
// and ResourceExhausted, its default backoff), and grpc-go's own retry
// (service config: 4 attempts, retryThrottling as gRFC A6 suggests).
func grpcPeers() []grpcPeer {
	return []grpcPeer{
		{"rtgrpc", rtgrpcDial(rtgrpc.ClientOptions{})},
		{"rtgrpc, keyed", rtgrpcDial(rtgrpc.ClientOptions{IdempotencyKeys: true})},
		{"go-grpc-middleware v2", []grpc.DialOption{grpc.WithUnaryInterceptor(grpcretry.UnaryClientInterceptor(
			grpcretry.WithMax(3), grpcretry.WithCodes(codes.Unavailable, codes.ResourceExhausted)))}},
		{"grpc-go retryPolicy", []grpc.DialOption{grpc.WithDefaultServiceConfig(`{
  "methodConfig": [{"name": [{"service": "grpc.testing.TestService"}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "5s", "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]}}],
  "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}}`)}},
	}
}

func rtgrpcDial(o rtgrpc.ClientOptions) []grpc.DialOption {
	return []grpc.DialOption{grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(o))}
}

// runGRPC sends calls UnaryCalls, 10 at a time, through peer to a server
// answering by answer (behind rtgrpc's server interceptor when keyed), and
// returns the server's counts and the calls that failed.
func runGRPC(t *testing.T, peer grpcPeer, calls int, s *grpcSvc) (failed int64) {
	chain := []grpc.UnaryServerInterceptor{s.front}
	if strings.HasSuffix(peer.name, "keyed") {
		chain = append(chain, rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{RetryAfter: 10 * time.Millisecond}))
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(chain...))
	testpb.RegisterTestServiceServer(srv, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	defer func() { srv.Stop(); <-done }()
	cc, err := grpc.NewClient(ln.Addr().String(), append(peer.opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)
	var fails atomic.Int64
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range work {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if _, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
					fails.Add(1)
				}
				cancel()
			}
		})
	}
	for range calls {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	return fails.Load()
}

// TestGRPCPeers prints, for each gRPC retry client in one run: requests per
// call against a backend that answers Unavailable to everything (1,000
// calls); against one that refuses every other request with
// ResourceExhausted and a 20 ms pushback (200 calls); and the duplicate
// effects (handler runs beyond one per call that succeeded) and failures
// against one that makes the effect and then loses the answer
// (Unavailable) 1 time in 5 (500 calls).
//
//	go test -run TestGRPCPeers -v .
func TestGRPCPeers(t *testing.T) {
	var table strings.Builder
	table.WriteString("\n| client | dead backend: requests per call | refusing backend: calls through, requests per call | lost answers: duplicate effects, failed calls |\n|---|---|---|---|\n")
	for _, peer := range grpcPeers() {
		dead := &grpcSvc{answer: func(context.Context, int64) error { return status.Error(codes.Unavailable, "down") }}
		runGRPC(t, peer, 1000, dead)
		refusing := &grpcSvc{answer: func(ctx context.Context, n int64) error {
			if n%2 == 1 {
				_ = grpc.SetTrailer(ctx, metadata.Pairs(rtgrpc.PushbackKey, "20"))
				return status.Error(codes.ResourceExhausted, "slow down")
			}
			return nil
		}}
		refused := runGRPC(t, peer, 200, refusing)
		lost := &grpcSvc{lose: func(n int64) bool { return n%5 == 0 }}
		lostFailed := runGRPC(t, peer, 500, lost)
		dups := lost.effects.Load() - 500 // every call runs the handler at least once here
		fmt.Fprintf(&table, "| %s | %.2f | %d of 200, %.2f | %d, %d |\n", peer.name,
			float64(dead.requests.Load())/1000, 200-refused, float64(refusing.requests.Load())/200, dups, lostFailed)
		if strings.HasPrefix(peer.name, "rtgrpc") {
			if r := float64(dead.requests.Load()) / 1000; r > 1.2 {
				t.Errorf("%s amplified an outage %.2f×", peer.name, r)
			}
			if dups > 0 {
				t.Errorf("%s: %d duplicate effects", peer.name, dups)
			}
		}
	}
	t.Log(table.String())
}
