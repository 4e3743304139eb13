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
