package redistest_test

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKillRestartAndClients(t *testing.T) {
	s := redistest.Start(t, t.TempDir())
	n, err := s.Clients()
	if err != nil || n != 0 {
		t.Fatalf("a fresh server: %d clients, %v", n, err)
	}
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 16)); err != nil { // +PONG: the server has taken the connection
		t.Fatal(err)
	}
	if n, err := s.Clients(); err != nil || n != 1 {
		t.Fatalf("one connection open: %d clients, %v", n, err)
	}
	c.Close()
	s.Kill()
	if _, err := s.Clients(); err == nil {
		t.Fatal("a killed server still answers")
	}
	s.Kill() // twice: nothing
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clients(); err != nil {
		t.Fatalf("restarted on %s: %v", s.Addr, err)
	}
}

func TestClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	masters := c.Masters()
	if len(masters) != 3 {
		t.Fatalf("%d masters, want 3", len(masters))
	}
	masters[0].Kill()
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Masters()); n != 3 {
		t.Fatalf("after a master died: %d masters, want 3 (its replica promoted)", n)
	}
}
