// Package freeport picks loopback ports for test servers that stop and start
// again on the same address: Reusable gives one. It depends on nothing but
// the standard library, so that every test helper of rtchain's modules
// (httptestutil, redistest, pgtest) can import it without reaching up into
// another helper.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Reusable returns a free 127.0.0.1:port address for a server that a
// test stops and starts again on the same address. Its port lies below the
// kernel's ephemeral range: a port from that range (what listening on ":0"
// gives) can be taken, between a stop and a restart, as the source port of
// one of the test's own outgoing connections, and the restart then fails
// with "address already in use".
func Reusable() (string, error) {
	low := ephemeralLow()
	for range 100 {
		port := 10000 + rand.IntN(low-10000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken: draw again
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			return "", err
		}
		return addr, nil
	}
	return "", fmt.Errorf("freeport: no free port in 10000-%d after 100 draws", low-1)
}

// ephemeralLow is the first port of the kernel's ephemeral range: Linux's
// setting where it can be read, else the IANA range's start.
func ephemeralLow() int {
	const iana = 49152
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return iana
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return iana
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low <= 10000+1000 {
		return iana // too little room below it: draw from the IANA range's bottom
	}
	return low
}
