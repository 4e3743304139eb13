package rtgrpc

import (
	"context"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/rtchain/rtchain/idempotency"
)

// credentialMetadata are the metadata entries CallerScope reads as the
// caller's credentials.
var credentialMetadata = [...]string{"authorization", "cookie", "x-api-key"}

// CallerScope returns a ServerOptions.Scope that names each call's caller
// by the credentials it presents: the authorization, cookie and x-api-key
// metadata entries, and the client certificate of a TLS connection. It is
// what ServerOptions.Scope nil means, with a nil secret, and is the HTTP
// middleware's idempotency.CallerScope for gRPC (the same hash, the same
// trade-offs: read its doc).
func CallerScope(secret []byte) func(context.Context) string {
	return func(ctx context.Context) string {
		var parts [][]byte
		md, _ := metadata.FromIncomingContext(ctx)
		for _, name := range credentialMetadata {
			for _, v := range md.Get(name) {
				parts = append(parts, []byte(name), []byte(v))
			}
		}
		if p, ok := peer.FromContext(ctx); ok {
			if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
				parts = append(parts, []byte("tls"), info.State.PeerCertificates[0].Raw)
			}
		}
		return idempotency.ScopeOf(secret, parts...)
	}
}

// OneScope is the ServerOptions.Scope that puts every caller in one
// namespace (see idempotency.OneScope).
func OneScope(context.Context) string { return "" }
