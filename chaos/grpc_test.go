package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/rtgrpc"
	"github.com/rtchain/rtchain/transport"
)

// grpcLedger charges a payment per run of the handler, by key: a second run
// of a key is a second charge.
type grpcLedger struct {
	testpb.UnimplementedTestServiceServer
	name    string
	mu      *sync.Mutex
	charged map[string]int
	answer  map[string]string
	stall   func() bool // this run holds its key past the client's per-try timeout
}

func (l *grpcLedger) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if l.stall() {
		time.Sleep(400 * time.Millisecond) // a slow run, holding its key
	}
	if err := idempotency.Confirm(ctx); err != nil {
		return nil, status.Error(codes.Unavailable, "the key was lost: try again")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	key := md.Get(rtgrpc.KeyMetadata)[0]
	l.mu.Lock()
	defer l.mu.Unlock()
	l.charged[key]++
	l.answer[key] = fmt.Sprintf("charged %s for %s on %s", key, req.GetPayload().GetBody(), l.name)
	return &testpb.SimpleResponse{Username: l.answer[key]}, nil
}

// TestGRPCExactlyOnce: two gRPC instances on one real Redis behind a
// round-robin client, 500 keyed payments; 1 answer in 5 lost after the
// effect (the call ends Unavailable), 1 run in 17 on one instance stalled
// past the client's per-try timeout while it holds its key. Every payment
// is charged once, every call gets the original answer.
func TestGRPCExactlyOnce(t *testing.T) {
	rs := redistest.Start(t, "")
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	store := redisstore.New(rdb, "grpc-chaos:")
	var mu sync.Mutex
	charged, answers := map[string]int{}, map[string]string{}
	var seen, stalls atomic.Int64
	var addrs []resolver.Address
	for _, name := range []string{"a", "b"} {
		l := &grpcLedger{name: name, mu: &mu, charged: charged, answer: answers, stall: func() bool {
			if name == "a" && seen.Load()%17 == 3 {
				stalls.Add(1)
				return true
			}
			return false
		}}
		lose := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if seen.Add(1)%5 == 0 {
				_, _ = next(ctx, req)                                          // the effect happens...
				return nil, status.Error(codes.Unavailable, "connection lost") // ...and the answer is lost
			}
			return next(ctx, req)
		}
		srv := grpc.NewServer(grpc.ChainUnaryInterceptor(lose, rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{
			Store: store, Lease: 2 * time.Second, RetryAfter: 100 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler)})))
		testpb.RegisterTestServiceServer(srv, l)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = srv.Serve(ln); close(done) }()
		t.Cleanup(func() { srv.Stop(); <-done })
		addrs = append(addrs, resolver.Address{Addr: ln.Addr().String()})
	}
	r := manual.NewBuilderWithScheme("chaos")
	r.InitialState(resolver.State{Addresses: addrs})
	var retries atomic.Int64
	retry := rtgrpc.ClientOptions{MaxRetries: 12, PerTryTimeout: 250 * time.Millisecond,
		Budget: transport.RetryBudget{Disabled: true}, OnRetry: func(rtgrpc.RetryEvent) { retries.Add(1) }}
	cc, err := grpc.NewClient(r.Scheme()+":///payments", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(retry)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	client := testpb.NewTestServiceClient(cc)

	const calls = 500
	got := make([]string, calls)
	var failed atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				ctx = metadata.AppendToOutgoingContext(ctx, rtgrpc.KeyMetadata, fmt.Sprint("order-", i))
				resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte(fmt.Sprint(i, " EUR"))}})
				cancel()
				if err != nil {
					failed.Add(1)
					t.Errorf("order %d: %v", i, err)
					continue
				}
				got[i] = resp.GetUsername()
			}
		})
	}
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	twice, missing, wrong := 0, 0, 0
	for i, answer := range got {
		key := fmt.Sprint("order-", i)
		switch n := charged[key]; {
		case n > 1:
			twice++
		case n == 0 && answer != "":
			missing++
		}
		if answer != "" && answer != answers[key] {
			wrong++
		}
	}
	t.Logf("%d keyed gRPC payments in %v: %d keys charged, %d twice, %d acknowledged but missing, %d not the original, "+
		"%d failed, %d retries, %d stalls", calls, time.Since(start).Round(time.Millisecond), len(charged), twice, missing, wrong,
		failed.Load(), retries.Load(), stalls.Load())
	if twice != 0 || missing != 0 || wrong != 0 || failed.Load() != 0 || len(charged) != calls {
		t.Errorf("not exactly once")
	}
}
