// Package redistest runs real redis-server processes for tests: each on a
// free loopback port, optionally persistent (an append-only file synced on
// every write, so that a server killed and started again has lost nothing it
// acknowledged), killed and restarted at will; and Redis Clusters of such
// servers (StartCluster), masters with replicas, whose masters can be
// killed to watch a replica take over. It needs redis-server and, for a
// cluster, redis-cli on the PATH (Debian: apt-get install redis-server,
// which brings redis-tools) and no Go dependency beyond the standard
// library and rtchain's internal/freeport.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtchain/rtchain/internal/freeport"
)

// Server is one redis-server process. Its methods are safe for concurrent
// use.
type Server struct {
	// Addr is host:port on 127.0.0.1; it stays the same across restarts.
	Addr string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd // nil while stopped
}

// Start launches a redis-server (persistent in dir, unless dir is "") and
// stops it when the test ends. It fails the test if the server cannot
// start. args are more of redis-server's options, after the package's own
// (a later option wins): "--maxmemory-policy", "allkeys-lru".
func Start(t testing.TB, dir string, args ...string) *Server {
	t.Helper()
	s, err := Launch(dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

// Launch starts a redis-server (persistent in dir, unless dir is "") with
// args as more options, as Start does, and waits until it answers PING.
// The caller must Kill it.
func Launch(dir string, args ...string) (*Server, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-server is not installed (apt-get install redis-server): %w", err)
	}
	// A port outside the ephemeral range, so that a restart does not find
	// it taken by an outgoing connection.
	addr, err := freeport.Reusable()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	s := &Server{Addr: addr,
		args: []string{path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--loglevel", "warning"}}
	if dir == "" {
		s.args = append(s.args, "--appendonly", "no")
	} else {
		s.args = append(s.args, "--dir", dir, "--appendonly", "yes", "--appendfsync", "always")
	}
	s.args = append(s.args, args...)
	return s, s.Restart()
}

// Restart starts the server again, on the same port and with the same data
// directory, and waits until it answers PING (at most 10 s). It does nothing
// if the server is running.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command(s.args[0], s.args[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for !s.ready() {
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redistest: redis-server on %s did not answer PING within 10s", s.Addr)
		}
		time.Sleep(10 * time.Millisecond) // polling a process's start
	}
	return nil
}

// Kill stops the server at once (SIGKILL), as a crash would, and waits for
// the process to end. It does nothing if the server is stopped.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// ready reports whether the server answers PING, on a connection of its
// own so that no client pool is left behind.
func (s *Server) ready() bool {
	_, err := s.command("PING")
	return err == nil
}

// Clients returns how many client connections the server holds, not
// counting the one that asks: the figure to hold against a baseline after
// a test, to find a pool that leaks connections.
func (s *Server) Clients() (int, error) {
	info, err := s.command("INFO clients")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("redistest: INFO clients: %q", line)
			}
			return n - 1, nil
		}
	}
	return 0, fmt.Errorf("redistest: INFO clients has no connected_clients")
}

// command sends one inline command and returns its reply: a simple string,
// or a bulk string's contents.
func (s *Server) command(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 || n > 1<<20 {
			return "", fmt.Errorf("redistest: %s: reply %q", cmd, line)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("redistest: %s: reply %q", cmd, line)
}
