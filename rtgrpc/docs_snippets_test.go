package rtgrpc_test

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/rtgrpc"
)

// The snippets of docs/grpc.md, compiled; see
// transport/docs_snippets_test.go.
var _, _, _ = snippetServer, snippetClient, snippetMigration

func snippetServer(store idempotency.Store) *grpc.Server {
	opts := rtgrpc.ServerOptions{
		Store: store, // memory, redisstore or sqlstore: the HTTP middleware's store
		// The key is a field of the request itself: its request_id.
		Key: func(_ context.Context, req any) string {
			if r, ok := req.(interface{ GetRequestId() string }); ok {
				return r.GetRequestId()
			}
			return ""
		},
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(opts)))
	return srv
}

func snippetClient(creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	retry := rtgrpc.ClientOptions{PerTryTimeout: 5 * time.Second} // 3 retries, full jitter from 100 ms: the defaults
	cc, err := grpc.NewClient("dns:///payments.internal:8443", grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(rtgrpc.UnaryClientInterceptor(retry)),
		grpc.WithStreamInterceptor(rtgrpc.StreamClientInterceptor(retry)))
	return cc, err
}

func snippetMigration() rtgrpc.ClientOptions {
	// Before: retry.UnaryClientInterceptor(retry.WithMax(3),
	//	retry.WithBackoff(retry.BackoffExponential(100*time.Millisecond)), retry.WithPerRetryTimeout(5*time.Second))
	retry := rtgrpc.ClientOptions{
		MaxRetries:    2,               // WithMax(3) is 3 attempts: the first and 2 retries
		PerTryTimeout: 5 * time.Second, // WithPerRetryTimeout(5s)
		// GetPayment only reads; say so here if its .proto does not.
		Idempotent: func(method string) bool { return method == "/payments.v1.Payments/GetPayment" },
	}
	return retry
}
