package rtgrpc_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/rtgrpc"
)

// payments is a service whose UnaryCall charges: once per key.
type payments struct {
	testpb.UnimplementedTestServiceServer
	charges int
}

func (p *payments) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if err := idempotency.Confirm(ctx); err != nil { // the fence before the effect
		return nil, err
	}
	p.charges++
	return &testpb.SimpleResponse{Username: fmt.Sprintf("charge %d", p.charges)}, nil
}

// A keyed call made twice: the server runs it once, and replays its answer.
func Example() {
	store := idempotency.NewMemoryStore(0, 0) // redisstore or sqlstore for a fleet
	srv := grpc.NewServer(grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{Store: store})))
	p := &payments{}
	testpb.RegisterTestServiceServer(srv, p)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	o := rtgrpc.ClientOptions{IdempotencyKeys: true} // or a key of the caller's own, as here
	cc, _ := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(o)))
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)

	ctx := metadata.AppendToOutgoingContext(context.Background(), rtgrpc.KeyMetadata, "order-42")
	for range 2 {
		var header metadata.MD
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&header))
		fmt.Println(resp.GetUsername(), err, "replayed:", header.Get(rtgrpc.ReplayedKey))
	}
	fmt.Println("charges:", p.charges)
	// Output:
	// charge 1 <nil> replayed: []
	// charge 1 <nil> replayed: [true]
	// charges: 1
}
