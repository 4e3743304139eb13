package transport_test

import (
	"time"

	"github.com/rtchain/rtchain/transport"
)

// The snippet of docs/hedging.md, compiled; see docs_snippets_test.go.
var _ = snippetHedge

func snippetHedge() {
	client := transport.NewClientWith(transport.ClientOptions{
		// After the host's p95 time to response headers (10 ms at most, and
		// until it has 20 calls of history), send the same GET again.
		Hedge: transport.HedgeOptions{Delay: 10 * time.Millisecond, Percentile: 0.95},
	})
	_ = client
}
