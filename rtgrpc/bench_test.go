package rtgrpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/rtchain/rtchain/rtgrpc"
)

// BenchmarkUnarySuccess is the client interceptor's cost on the success
// path, over an invoker that answers at once (no network: the figure is
// the interceptor's alone), beside calling the invoker directly.
//
//	cd rtgrpc && go test -run '^$' -bench UnarySuccess -benchmem -count 6 .
func BenchmarkUnarySuccess(b *testing.B) {
	cc, err := grpc.NewClient("passthrough:///bench", grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	req, reply := &testpb.SimpleRequest{}, &testpb.SimpleResponse{}
	ctx := context.Background()
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = invoker(ctx, unaryCall, req, reply, cc)
		}
	})
	noop := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	b.Run("a no-op interceptor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = noop(ctx, unaryCall, req, reply, cc, invoker)
		}
	})
	for name, o := range map[string]rtgrpc.ClientOptions{
		"rtgrpc":             {},
		"rtgrpc, keys":       {IdempotencyKeys: true},
		"rtgrpc, per-try 5s": {PerTryTimeout: 5e9},
	} {
		intercept := rtgrpc.UnaryClientInterceptor(o)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = intercept(ctx, unaryCall, req, reply, cc, invoker)
			}
		})
	}
}

// BenchmarkLoopbackUnary is a real unary call to a grpc-go server on
// loopback, through a client with a no-op interceptor and through rtgrpc's:
// the interceptor's cost beside a call's.
//
//	cd rtgrpc && go test -run '^$' -bench LoopbackUnary -benchmem -count 6 .
func BenchmarkLoopbackUnary(b *testing.B) {
	addr := serve(b, &svc{})
	noop := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	for name, icpt := range map[string]grpc.UnaryClientInterceptor{
		"a no-op interceptor": noop,
		"rtgrpc":              rtgrpc.UnaryClientInterceptor(rtgrpc.ClientOptions{}),
	} {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecureCreds()), grpc.WithUnaryInterceptor(icpt))
		if err != nil {
			b.Fatal(err)
		}
		client := testpb.NewTestServiceClient(cc)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = cc.Close()
	}
}
