package httptestutil

import "github.com/rtchain/rtchain/internal/freeport"

// ReusableAddr returns a free 127.0.0.1:port address for a server that a
// test stops and starts again on the same address. Its port lies below the
// kernel's ephemeral range: a port from that range (what listening on ":0"
// gives) can be taken, between a stop and a restart, as the source port of
// one of the test's own outgoing connections, and the restart then fails
// with "address already in use".
func ReusableAddr() (string, error) {
	return freeport.Reusable()
}
