package redisstore_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server on a free loopback port, with no
// persistence unless it has a dir, stopped when the test ends.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	args []string
}

func startRedis(t testing.TB) *redisServer {
	t.Helper()
	return startRedisIn(t, "")
}

// startRedisIn starts a redis-server that keeps its data in dir (an
// append-only file, synced on every write), or none if dir is "".
func startRedisIn(t testing.TB, dir string) *redisServer {
	t.Helper()
	s, err := launchRedis(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// launchRedis starts a redis-server (persistent in dir, unless "") and
// waits until it answers; the caller must stop it.
func launchRedis(dir string) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed: apt-get install redis-server (.ci/run installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &redisServer{Addr: "127.0.0.1:" + strconv.Itoa(port),
		args: []string{path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--loglevel", "warning"}}
	if dir == "" {
		s.args = append(s.args, "--appendonly", "no")
	} else {
		// Every acknowledged write is on disk before the reply, so that a
		// server killed and started again has lost nothing it confirmed.
		s.args = append(s.args, "--dir", dir, "--appendonly", "yes", "--appendfsync", "always")
	}
	return s, s.start()
}

// start runs s's redis-server and waits until it answers.
func (s *redisServer) start() error {
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.ready() {
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("redis-server on %s did not answer PING within 10s", s.Addr)
		}
		time.Sleep(10 * time.Millisecond) // polling a process's start, not synchronising goroutines
	}
	return nil
}

// ready reports whether the server answers PING, over a raw connection so
// that no client pool is left behind.
func (s *redisServer) ready() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprint(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func (s *redisServer) stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// client returns a go-redis client of s, closed when the test ends.
func (s *redisServer) client(t testing.TB, hooks ...redis.Hook) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second})
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// roundTrips counts the commands a client sends.
type roundTrips struct{ n int }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n++
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n++
		return next(ctx, cmds)
	}
}
