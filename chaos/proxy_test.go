package chaos

import (
	"fmt"
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// toxic is one fault Toxiproxy injects, on a share (toxicity) of the
// connections, in one direction.
type toxic struct {
	kind, stream string
	toxicity     float64
	attributes   string
}

// faults are the toxics of the run: every kind the issue asks for.
var faults = []toxic{
	{"reset_peer", "downstream", 0.04, `{"timeout": 15}`}, // RST after 15ms
	{"timeout", "upstream", 0.02, `{"timeout": 300}`},     // silence, then close
	{"latency", "downstream", 0.30, `{"latency": 3, "jitter": 3}`},
	{"slicer", "upstream", 0.30, `{"average_size": 700, "size_variation": 300, "delay": 20}`},
	{"limit_data", "downstream", 0.04, `{"bytes": 30000}`}, // cut mid-body
	{"bandwidth", "downstream", 0.10, `{"rate": 4000}`},    // 4 MB/s
}

// startProxy starts an embedded Toxiproxy listening on loopback in front of
// upstream (host:port), with faults, and returns its address.
func startProxy(t *testing.T, upstream string) string {
	t.Helper()
	return newProxy(t, "rtchain-chaos", upstream, faults...).Listen
}

// newProxy starts an embedded Toxiproxy named name, listening on a free
// loopback port in front of upstream (host:port), with toxics; it is stopped
// when the test ends.
func newProxy(t *testing.T, name, upstream string, toxics ...toxic) *toxiproxy.Proxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, name, "127.0.0.1:0", upstream)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	for _, f := range toxics {
		addToxic(t, proxy, f)
	}
	return proxy
}

// addToxic adds f to proxy's toxics.
func addToxic(t *testing.T, proxy *toxiproxy.Proxy, f toxic) {
	t.Helper()
	spec := fmt.Sprintf(`{"name": "%s-%s", "type": %q, "stream": %q, "toxicity": %g, "attributes": %s}`,
		f.kind, f.stream, f.kind, f.stream, f.toxicity, f.attributes)
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
		t.Fatalf("toxic %s: %v", f.kind, err)
	}
}
