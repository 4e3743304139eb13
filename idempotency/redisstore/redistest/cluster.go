package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtchain/rtchain/internal/freeport"
)

// Cluster is a Redis Cluster of real redis-server processes on loopback:
// masters, each with its replicas, created by redis-cli --cluster create
// (Debian's redis-tools, which redis-server depends on). A node's timeout
// is 1 s: a master killed is replaced by its replica within a few seconds.
type Cluster struct {
	// Nodes are every node, masters and replicas, in the order created.
	Nodes   []*Server
	dirs    []string
	masters int
}

// StartCluster starts a cluster of masters masters with replicas replicas
// each, waits until every slot is served, and stops it when the test ends.
func StartCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	c, err := LaunchCluster(masters, replicas)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Remove)
	return c
}

// LaunchCluster starts a cluster; the caller must Remove it.
func LaunchCluster(masters, replicas int) (*Cluster, error) {
	if masters < 3 {
		return nil, errors.New("redistest: a Redis Cluster needs 3 masters at least")
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-server is not installed (apt-get install redis-server): %w", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-cli is not installed (apt-get install redis-tools): %w", err)
	}
	c := &Cluster{masters: masters}
	for range masters * (1 + replicas) {
		addr, err := freeport.Reusable()
		if err != nil {
			c.Remove()
			return nil, err
		}
		bus, err := freeport.Reusable() // not port+10000: it may be an ephemeral port
		if err != nil {
			c.Remove()
			return nil, err
		}
		dir, err := os.MkdirTemp("", "redistest-cluster-")
		if err != nil {
			c.Remove()
			return nil, err
		}
		c.dirs = append(c.dirs, dir)
		_, port, _ := net.SplitHostPort(addr)
		_, busPort, _ := net.SplitHostPort(bus)
		s := &Server{Addr: addr, args: []string{path, "--port", port, "--bind", "127.0.0.1", "--save", "",
			"--loglevel", "warning", "--appendonly", "no", "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
			"--cluster-port", busPort,
			// A replica that has not synchronised cannot take over: sync at once.
			"--repl-diskless-sync-delay", "0",
			// A node lists a replica in CLUSTER SLOTS, where clients learn
			// of replicas, once its replication offset is not 0: the
			// master's pings move it, every 10 s by default.
			"--repl-ping-replica-period", "1"}}
		c.Nodes = append(c.Nodes, s)
		if err := s.Restart(); err != nil {
			c.Remove()
			return nil, err
		}
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		c.Remove()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %w: %s", err, out)
	}
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		c.Remove()
		return nil, err
	}
	return c, nil
}

// Addrs returns every node's address.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr
	}
	return out
}

// Masters returns the running nodes that are masters now.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, s := range c.Nodes {
		if info, err := s.command("INFO replication"); err == nil && strings.Contains(info, "role:master") {
			out = append(out, s)
		}
	}
	return out
}

// WaitHealthy waits until as many running nodes are masters as the
// cluster was created with (after a master died, its replica has taken
// over), every running node says the cluster's state is ok (every slot
// served), and every running replica is in sync with its master, for at
// most timeout.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, last := true, ""
		if n := len(c.Masters()); n != c.masters {
			ok, last = false, fmt.Sprintf("%d masters of %d", n, c.masters)
		}
		for _, s := range c.Nodes {
			if !ok {
				break
			}
			if !s.running() {
				continue
			}
			info, err := s.command("CLUSTER INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok, last = false, fmt.Sprintf("%s: %v %q", s.Addr, err, firstLine(info))
				break
			}
			repl, err := s.command("INFO replication")
			if err != nil || (strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up")) {
				ok, last = false, fmt.Sprintf("%s: a replica not in sync (%v)", s.Addr, err)
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: cluster not healthy within %v: %s", timeout, last)
		}
		time.Sleep(50 * time.Millisecond) // polling the cluster's state
	}
}

// Remove kills every node and deletes their files.
func (c *Cluster) Remove() {
	for _, s := range c.Nodes {
		s.Kill()
	}
	for _, d := range c.dirs {
		_ = os.RemoveAll(d)
	}
}

func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
