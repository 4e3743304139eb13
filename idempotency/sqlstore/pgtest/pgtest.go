// Package pgtest runs real PostgreSQL servers for tests: each initialised
// in a fresh directory, on a free loopback port, as an unprivileged user
// when the test runs as root (PostgreSQL refuses to run as root), and
// killed at will (SIGKILL, as a crash), restarted on the same port and data,
// or cut off from one client (a backend terminated). It needs PostgreSQL's
// server programs (Debian: apt-get install postgresql) and finds them on the
// PATH or under /usr/lib/postgresql/*/bin.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/rtchain/rtchain/internal/freeport"
)

// Server is one PostgreSQL server. Its methods are safe for concurrent use.
type Server struct {
	// Addr is host:port on 127.0.0.1; it stays the same across restarts.
	Addr string
	dir  string // holds data/, the socket and the log
	bin  string
	cred *syscall.Credential // nil when not root

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has exited
}

// Start initialises and starts a server, and stops it and removes its
// files when the test ends. It fails the test if the server cannot start.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Remove)
	return s
}

// Launch initialises and starts a server; the caller must Remove it.
func Launch() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if err := s.setup(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Restart(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// findBin finds the directory of initdb and postgres.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // the newest first
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("pgtest: PostgreSQL's initdb is not installed (apt-get install postgresql)")
}

// setup picks the user and the port, and runs initdb.
func (s *Server) setup() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			return fmt.Errorf("pgtest: running as root and no user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	addr, err := freeport.Reusable()
	if err != nil {
		return err
	}
	s.Addr = addr
	out, err := s.command("initdb", "-D", filepath.Join(s.dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	return nil
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

// Restart starts the server again, on the same port and data, and waits
// until it accepts connections (at most 30 s). It does nothing if the server
// is running.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	logFile, err := os.OpenFile(filepath.Join(os.TempDir(), filepath.Base(s.dir)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	// fsync off: a killed process loses nothing the kernel holds, and only
	// a machine that loses power would need it.
	args := []string{"-D", filepath.Join(s.dir, "data"), "-p", port, "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
		"-c", "shared_buffers=32MB", "-c", "log_min_messages=fatal"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := s.command("postgres", args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		err := s.await(exited, deadline)
		if err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			return fmt.Errorf("pgtest: postgres on %s did not start within 30s: %v\n%s", s.Addr, err, log)
		}
		// It exited at once: the backends of a killed server may still
		// hold its shared memory for a moment. Start it again.
		time.Sleep(50 * time.Millisecond)
	}
}

// await polls the server until it accepts a connection, it exits, or the
// deadline passes.
func (s *Server) await(exited <-chan struct{}, deadline time.Time) error {
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // polling a process's start
	}
}

// ping connects once, on a connection of its own.
func (s *Server) ping() error {
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// DSN is the connection string of database on the server, as the
// superuser postgres.
func (s *Server) DSN(database string) string {
	host, port, _ := net.SplitHostPort(s.Addr)
	return fmt.Sprintf("postgres://postgres@%s:%s/%s?sslmode=disable", host, port, database)
}

// Kill stops the server at once (SIGKILL to the postmaster and every
// backend, as a crash would) and waits for it to end. It does nothing if
// the server is stopped.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) // the whole process group
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// Remove kills the server and deletes its files.
func (s *Server) Remove() {
	s.Kill()
	_ = os.RemoveAll(s.dir)
	_ = os.Remove(filepath.Join(os.TempDir(), filepath.Base(s.dir)+".log"))
}

// CreateDB creates a database named name and returns a pool on it, closed
// when the test ends.
func (s *Server) CreateDB(t testing.TB, name string) *sql.DB {
	t.Helper()
	if err := s.exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	db, err := sql.Open("pgx", s.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Terminate ends the backends of database whose pg_stat_activity rows
// match where (an SQL condition, "state = 'idle in transaction'"; "" for
// all), as pg_terminate_backend does, and reports how many it ended.
func (s *Server) Terminate(database, where string) (int, error) {
	if where == "" {
		where = "true"
	}
	var n int
	err := s.query(func(db *sql.DB) error {
		return db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND (`+where+`)`, database).Scan(&n)
	})
	return n, err
}

// Conns reports how many client connections database has: the figure to
// hold against a baseline after a test, to find a pool that leaks.
func (s *Server) Conns(database string) (int, error) {
	var n int
	err := s.query(func(db *sql.DB) error {
		return db.QueryRow(`SELECT count(*) FROM pg_stat_activity
WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`, database).Scan(&n)
	})
	return n, err
}

func (s *Server) exec(q string) error {
	return s.query(func(db *sql.DB) error { _, err := db.Exec(q); return err })
}

// query runs f on a pool of one connection to the postgres database,
// closed after.
func (s *Server) query(f func(*sql.DB) error) error {
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return f(db)
}
