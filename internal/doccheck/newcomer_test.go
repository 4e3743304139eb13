package doccheck_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/internal/doccheck"
)

// newcomer is a program of a user's own, outside this module, made of the
// README's Quick start and the server page's first snippet, pasted as a
// newcomer pastes them. CLIENT and SERVER are replaced by the snippets.
const newcomer = `package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/transport"
)

func main() {
	var runs, things atomic.Int32
	pay := func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, "paid")
	}
	SERVER
	http.HandleFunc("/things", func(w http.ResponseWriter, r *http.Request) {
		if things.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "things")
	})
	srv := httptest.NewServer(http.DefaultServeMux)
	defer srv.Close()

	CLIENT
	if err != nil || resp.StatusCode != http.StatusOK || things.Load() != 2 {
		fail("GET after a 503: %v, %v, %d requests", resp, err, things.Load())
	}
	resp.Body.Close()
	for i := range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/pay", strings.NewReader("10 EUR"))
		req.Header.Set("Idempotency-Key", "order-17")
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			fail("POST %d: %v, %v", i, resp, err)
		}
		if replayed := resp.Header.Get("Idempotent-Replayed") == "true"; replayed != (i == 1) {
			fail("POST %d: Idempotent-Replayed %q", i, resp.Header.Get("Idempotent-Replayed"))
		}
		resp.Body.Close()
	}
	if runs.Load() != 1 {
		fail("the handler ran %d times", runs.Load())
	}
	fmt.Println("ok")
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
`

// The first hour cannot silently break: the README's Quick start and the
// server page's first snippet, pasted into a program of a user's own that
// builds against this tree, get a GET through a 503 and have a keyed POST
// run once and replayed.
func TestANewcomersFirstProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	server, err := os.ReadFile(filepath.Join(root, "docs", "server.md"))
	require.NoError(t, err)
	client := doccheck.Snippets(string(readme))[0]
	handler := doccheck.Snippets(string(server))[0]
	require.Contains(t, client.Imports, "github.com/rtchain/rtchain/transport", "the README opens with the client")
	require.Contains(t, handler.Imports, "github.com/rtchain/rtchain/idempotency", "the server page opens with the middleware")

	clientCode := strings.ReplaceAll(strings.Join(client.Code, "\n\t"), "https://api.example.com", `"+srv.URL+"`)
	src := strings.NewReplacer("SERVER", strings.Join(handler.Code, "\n\t"), "CLIENT", clientCode).Replace(newcomer)
	abs, err := filepath.Abs(root)
	require.NoError(t, err)
	dir := t.TempDir()
	goMod := "module newcomer\n\ngo 1.25\n\nrequire github.com/rtchain/rtchain v0.1.0\n\nreplace github.com/rtchain/rtchain => " + abs + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"mod", "tidy"}, {"run", "."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s\n%s", strings.Join(args, " "), out, src)
		if args[0] == "run" {
			require.Equal(t, "ok\n", string(out))
		}
	}
}
