package rtgrpc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/rtchain/rtchain/rtgrpc"
)

// As over HTTP, a key belongs to the credentials that sent it: another
// caller's call with the same key and request runs for that caller, and a
// stored set-cookie is never replayed.
func TestServerKeyBelongsToItsCaller(t *testing.T) {
	s := &svc{unary: func(ctx context.Context, n int64, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs("set-cookie", "session=secret", "x-account", "yes"))
		return &testpb.SimpleResponse{Username: md.Get("authorization")[0]}, nil
	}}
	addr := serve(t, s, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{})))
	client := dial(t, addr, once)
	as := func(token string) context.Context {
		return metadata.AppendToOutgoingContext(keyed(t.Context(), "order-17"), "authorization", "Bearer "+token)
	}
	a, err := client.UnaryCall(as("a"), pay("x"))
	require.NoError(t, err)
	var h metadata.MD
	b, err := client.UnaryCall(as("b"), pay("x"), grpc.Header(&h))
	require.NoError(t, err)
	assert.Equal(t, "Bearer b", b.GetUsername(), "another caller's call ran for it")
	assert.Empty(t, h.Get(rtgrpc.ReplayedKey))

	again, err := client.UnaryCall(as("a"), pay("x"), grpc.Header(&h))
	require.NoError(t, err)
	assert.Equal(t, a.GetUsername(), again.GetUsername())
	assert.Equal(t, []string{"true"}, h.Get(rtgrpc.ReplayedKey), "the caller's own retry is replayed")
	assert.Empty(t, h.Get("set-cookie"), "set-cookie is never stored")
	assert.Equal(t, []string{"yes"}, h.Get("x-account"))
	assert.Equal(t, int64(2), s.calls.Load())

	shared := serve(t, &svc{unary: charged}, grpc.UnaryInterceptor(rtgrpc.UnaryServerInterceptor(rtgrpc.ServerOptions{Scope: rtgrpc.OneScope})))
	sc := dial(t, shared, once)
	_, err = sc.UnaryCall(as("a"), pay("x"))
	require.NoError(t, err)
	_, err = sc.UnaryCall(as("b"), pay("x"), grpc.Header(&h))
	require.NoError(t, err)
	assert.Equal(t, []string{"true"}, h.Get(rtgrpc.ReplayedKey), "OneScope: every caller shares the keys")
}

// The peer's TLS certificate is a credential of its own.
func TestCallerScopeReadsThePeerCertificate(t *testing.T) {
	scope := rtgrpc.CallerScope(nil)
	withCert := func(raw string) context.Context {
		state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte(raw)}}}
		return peer.NewContext(t.Context(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
	}
	assert.Empty(t, scope(t.Context()), "no credentials: the anonymous scope")
	assert.NotEmpty(t, scope(withCert("a")))
	assert.NotEqual(t, scope(withCert("a")), scope(withCert("b")))
	md := metadata.NewIncomingContext(withCert("a"), metadata.Pairs("x-api-key", "k"))
	assert.NotEqual(t, scope(withCert("a")), scope(md), "the key and the certificate together")
}
