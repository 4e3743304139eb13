package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReusableIsFreeAndBelowTheEphemeralRange(t *testing.T) {
	addr, err := Reusable()
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	require.GreaterOrEqual(t, p, 10000)
	require.Less(t, p, ephemeralLow())
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the address is free")
	require.NoError(t, ln.Close())
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err, "and free again once closed")
	require.NoError(t, ln.Close())
}
