package rtgrpc_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/rtgrpc"
)

// flaky is a service whose UnaryCall, a lookup that changes nothing but is
// not declared idempotent, answers its first call Unavailable.
type flaky struct {
	testpb.UnimplementedTestServiceServer
	calls atomic.Int32
}

func (f *flaky) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if f.calls.Add(1) == 1 {
		return nil, status.Error(codes.Unavailable, "restarting")
	}
	return &testpb.SimpleResponse{Username: "found"}, nil
}

// Per-call control: the caller knows this lookup may be sent twice, which
// its descriptor does not say, and passes WithRepeatable to the call; the
// interceptor then retries its Unavailable. A call passed WithMaxRetries(0)
// is sent once.
func ExampleWithRepeatable() {
	srv := grpc.NewServer()
	f := &flaky{}
	testpb.RegisterTestServiceServer(srv, f)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	cc, _ := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(rtgrpc.ClientOptions{})))
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)

	resp, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{}, rtgrpc.WithRepeatable())
	fmt.Println(resp.GetUsername(), err, "after", f.calls.Load(), "calls")

	f.calls.Store(0)
	_, err = client.UnaryCall(context.Background(), &testpb.SimpleRequest{}, rtgrpc.WithRepeatable(), rtgrpc.WithMaxRetries(0))
	fmt.Println(status.Code(err), "after", f.calls.Load(), "call")
	// Output:
	// found <nil> after 2 calls
	// Unavailable after 1 call
}
