package bench

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	htu "github.com/rtchain/rtchain/httptestutil"
)

// startNginx starts a real nginx on a free loopback port, rate-limited as
// the host-wide workload's origin is: limit_req at 20 r/s with a burst of
// 10 (nodelay), 429 beyond it, with no Retry-After (nginx sends none). It
// serves a static file, so that the limit applies (a `return` would answer
// before limit_req runs). It is stopped when the test ends. Without an
// nginx binary the test is skipped; .ci/run installs Debian's nginx-light.
func startNginx(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("no nginx binary (apt-get install nginx-light)")
	}
	dir := t.TempDir()
	addr, err := htu.ReusableAddr()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("DIR", dir, "ADDR", addr).Replace(`
daemon off;
master_process off;
pid DIR/nginx.pid;
error_log DIR/error.log;
events { worker_connections 512; }
http {
	access_log off;
	client_body_temp_path DIR/body;
	proxy_temp_path DIR/proxy;
	fastcgi_temp_path DIR/fastcgi;
	uwsgi_temp_path DIR/uwsgi;
	scgi_temp_path DIR/scgi;
	limit_req_zone $server_name zone=api:1m rate=20r/s;
	server {
		listen ADDR;
		server_name origin;
		root DIR/www;
		location / {
			limit_req zone=api burst=10 nodelay;
			limit_req_status 429;
		}
	}
}
`)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("nginx did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that has no event to wait on
	}
	time.Sleep(time.Second) // let the bucket the probe dented fill up again
	return "http://" + addr + "/"
}

// throttleCounter counts the 429s a base received: the requests a client
// wasted.
type throttleCounter struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *throttleCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		c.n.Add(1)
	}
	return resp, err
}

func (c *throttleCounter) CloseIdleConnections() {
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// The host-wide workload against a real nginx limit_req (20 r/s, burst 10,
// 429 without Retry-After): 10 workers, 100 GETs, every client in the same
// run, each on a fresh nginx. go test -run TestNginxLimitReq -v .
func TestNginxLimitReq(t *testing.T) {
	for i, c := range throttleClients {
		if i == 1 {
			continue // the floor of the scoped workloads: no use here
		}
		t.Run(c.name, func(t *testing.T) {
			url := startNginx(t)
			base := &throttleCounter{next: newBodyAudit(t)}
			res := htu.Load(c.new(base), url, 10, 100)
			t.Logf("%-20s %3d/100 in %v, %d 429s (first failure: %.80q)", c.name, res.OK, res.Took.Round(time.Millisecond), base.n.Load(), res.FirstFailure)
			if i == 0 && res.OK != 100 {
				t.Errorf("rtchain: %d of 100 calls succeeded", res.OK)
			}
		})
	}
}
