package chaos

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// fdTargets returns what each open file descriptor refers to, by number:
// a path, or socket:[inode].
func fdTargets() map[string]string {
	out := map[string]string{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
			out[e.Name()] = target
		}
	}
	return out
}

// newFDs describes the file descriptors open now that were not in before:
// for a TCP socket, its two ends and its state, from /proc/net/tcp.
func newFDs(before map[string]string) string {
	sockets := tcpSockets()
	var b strings.Builder
	for fd, target := range fdTargets() {
		if before[fd] == target {
			continue
		}
		fmt.Fprintf(&b, "\n\tfd %s: %s", fd, target)
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			if desc, ok := sockets[strings.TrimSuffix(inode, "]")]; ok {
				b.WriteString(" " + desc)
			}
		}
	}
	return b.String()
}

// tcpStates names /proc/net/tcp's st column.
var tcpStates = map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
	"05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}

// tcpSockets maps the inode of each IPv4 TCP socket to "local -> remote
// state".
func tcpSockets() map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		out[f[9]] = fmt.Sprintf("%s -> %s %s", procAddr(f[1]), procAddr(f[2]), tcpStates[f[3]])
	}
	return out
}

// procAddr reads /proc/net/tcp's little-endian hex "0100007F:1F90".
func procAddr(s string) string {
	host, port, ok := strings.Cut(s, ":")
	ip, err := hex.DecodeString(host)
	p, err2 := strconv.ParseUint(port, 16, 16)
	if !ok || err != nil || err2 != nil || len(ip) != 4 {
		return s
	}
	return net.JoinHostPort(net.IPv4(ip[3], ip[2], ip[1], ip[0]).String(), strconv.FormatUint(p, 10))
}
