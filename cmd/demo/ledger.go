package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rtchain/rtchain/idempotency"
)

// payments is the demo's payment service, POST /pay: the paydemo process
// of idempotency/sqlstore, whose ledger and keys share one SQLite database
// (a charge and its stored answer commit in one transaction), started with
// go run beside this program; or, where rtchain's source tree is not at
// hand (an installed binary), the same service in this process, with its
// ledger and keys in memory.
type payments struct {
	http.Handler
	where   string // what holds the ledger
	charges func() (map[string]int, error)
	close   func()
}

// paydemoStart bounds the payment service's start: its first go run
// compiles SQLite.
const paydemoStart = 3 * time.Minute

// startPayments starts the payment service, telling stderr what it does.
func startPayments(stderr io.Writer) (*payments, error) {
	dir, ok := sqlstoreDir()
	if !ok {
		fmt.Fprintln(stderr, "demo: rtchain's source tree is not here: the payment service keeps its ledger in memory")
		return memPayments(), nil
	}
	fmt.Fprintln(stderr, "demo: starting the payment service (SQLite; its first run builds it, which takes a minute)")
	cmd := exec.Command("go", "run", "./internal/paydemo")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	first := &firstLine{line: lines}
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = first, &errOut
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("payment service: %w", err)
	}
	stop := func() {
		_ = stdin.Close() // it ends when its input does
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	var line string
	select {
	case line = <-lines:
	case <-time.After(paydemoStart):
	}
	u, err := url.Parse(strings.TrimSpace(strings.TrimPrefix(line, "listening ")))
	if line == "" || err != nil || u.Host == "" {
		stop()
		return nil, fmt.Errorf("payment service did not start: %s", strings.TrimSpace(errOut.String()))
	}
	tr := &http.Transport{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = tr
	return &payments{
		Handler: proxy,
		where:   "SQLite",
		charges: func() (map[string]int, error) { return fetchLedger(tr, u.String()+"/ledger") },
		close:   func() { tr.CloseIdleConnections(); stop() },
	}, nil
}

// sqlstoreDir finds idempotency/sqlstore in the source tree this program
// was built from.
func sqlstoreDir() (string, bool) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", false
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "idempotency", "sqlstore")
	if _, err := os.Stat(filepath.Join(dir, "internal", "paydemo", "main.go")); err != nil {
		return "", false
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", false
	}
	return dir, true
}

func fetchLedger(tr http.RoundTripper, u string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ledger: %s", resp.Status)
	}
	out := map[string]int{}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// firstLine is a Writer that hands over the first line written to it and
// drops the rest.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	line chan string // nil once the line is handed over
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.line != nil {
		f.buf = append(f.buf, p...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
			f.line <- string(f.buf[:i])
			f.line, f.buf = nil, nil
		}
	}
	return len(p), nil
}

// memPayments is the payment service in this process, in memory.
func memPayments() *payments {
	var mu sync.Mutex
	charged := map[string]int{}
	pay := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Order string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Order == "" {
			http.Error(w, "bad order", http.StatusBadRequest)
			return
		}
		// The fence: charge only while this request still holds its key.
		if err := idempotency.Confirm(r.Context()); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		charged[req.Order]++
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"charged":%q}`, req.Order)
	})
	return &payments{
		Handler: idempotency.Middleware(idempotency.Options{})(pay),
		where:   "memory",
		charges: func() (map[string]int, error) {
			mu.Lock()
			defer mu.Unlock()
			out := make(map[string]int, len(charged))
			for k, v := range charged {
				out[k] = v
			}
			return out, nil
		},
		close: func() {},
	}
}
