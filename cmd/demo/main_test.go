package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	htu "github.com/rtchain/rtchain/httptestutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runDemo runs the program with args and returns its exit status, stdout
// and stderr.
func runDemo(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr, false)
	return code, stdout.String(), stderr.String()
}

func decode(t *testing.T, out string) []map[string]any {
	t.Helper()
	var all struct {
		Run     map[string]any   `json:"run"`
		Clients []map[string]any `json:"clients"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &all), out)
	require.NotNil(t, all.Run, "the run's settings are recorded")
	return all.Clients
}

func TestEmbeddedServer(t *testing.T) {
	code, out, errOut := runDemo(t, context.Background(), "-n", "60", "-c", "4", "-json", "-seed", "7")
	require.Equal(t, 0, code, errOut)
	all := decode(t, out)
	require.Len(t, all, 2)
	chain, bare := all[0], all[1]
	assert.Equal(t, "rtchain", chain["name"])
	assert.Equal(t, float64(60), chain["calls"])
	assert.Equal(t, float64(60), chain["succeeded"])
	assert.Equal(t, float64(0), chain["duplicate_post_effects"])
	assert.Equal(t, float64(0), chain["posts_charged_but_failed"])
	assert.Equal(t, float64(12), chain["ledger_charges"], "the SQLite ledger holds one charge per POST")
	assert.Contains(t, errOut, "payment service (SQLite")
	assert.Greater(t, chain["attempts_sent"], float64(60), "the flaky server forced retries")
	assert.Equal(t, float64(60), bare["calls"])
	assert.Equal(t, float64(60), bare["attempts_sent"], "a bare client does not retry")
	assert.Positive(t, bare["failed"])
	assert.Positive(t, bare["posts_charged_but_failed"], "payments made whose answer was lost")
	assert.Contains(t, errOut, "rtchain: 60/60 calls, 0 failed")
}

func TestPaymentsInMemory(t *testing.T) {
	p := memPayments()
	defer p.close()
	srv := htu.NewServer(t, p)
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"order":"o"}`))
		req.Header.Set("Idempotency-Key", "k")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	charges, err := p.charges()
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"o": 1}, charges)
}

func TestEmbeddedTable(t *testing.T) {
	code, out, _ := runDemo(t, context.Background(), "-n", "20", "-c", "2", "-seed", "3")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "(-seed 3)", "the seed is printed, to repeat the run")
	for _, row := range []string{"succeeded", "attempts sent", "retried after 503", "TCP connections opened", "duplicate POST effects", "latency p99"} {
		assert.Contains(t, out, row)
	}
}

func TestURLMode(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(503), htu.Status(503), htu.OK("fine"))
	code, out, errOut := runDemo(t, context.Background(), "-url", srv.URL+"/x", "-n", "3", "-c", "1",
		"-method", "PUT", "-H", "X-Demo: yes", "-data", `{"v":1}`, "-json")
	require.Equal(t, 0, code, errOut)
	s := decode(t, out)[0]
	assert.Equal(t, float64(3), s["succeeded"])
	assert.Equal(t, float64(5), s["attempts_sent"])
	assert.Equal(t, map[string]any{"503": float64(2)}, s["retries_by_reason"])
	assert.Equal(t, float64(1), s["tcp_connections"])
	assert.NotContains(t, s, "duplicate_post_effects", "unknown for a real endpoint")
	for _, r := range srv.Requests() {
		assert.Equal(t, http.MethodPut, r.Method)
		assert.Equal(t, "yes", r.Header.Get("X-Demo"))
		assert.Equal(t, `{"v":1}`, string(r.Body))
	}
}

func TestURLUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	code, out, _ := runDemo(t, context.Background(), "-url", "http://"+addr+"/", "-n", "2", "-retries", "1")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "connection refused")
	code, out, _ = runDemo(t, context.Background(), "-url", "http://"+addr+"/", "-n", "2", "-retries", "1", "-json")
	assert.Equal(t, 1, code)
	assert.Equal(t, float64(0), decode(t, out)[0]["tcp_connections"], "a refused dial opens no connection")
}

// -json says where the run went and with which settings.
func TestJSONRecordsTheRun(t *testing.T) {
	srv := htu.NewServer(t, htu.OK("fine"))
	code, out, errOut := runDemo(t, context.Background(), "-url", srv.URL+"/x?token=s3cret", "-n", "2", "-c", "2",
		"-retries", "5", "-rate", "50", "-json")
	require.Equal(t, 0, code, errOut)
	var all struct{ Run map[string]any }
	require.NoError(t, json.Unmarshal([]byte(out), &all))
	assert.Equal(t, srv.URL+"/x?token=REDACTED", all.Run["url"])
	assert.Equal(t, "GET", all.Run["method"])
	assert.Equal(t, float64(2), all.Run["calls"])
	assert.Equal(t, float64(5), all.Run["retries"])
	assert.Equal(t, float64(50), all.Run["rate_per_second"])
	assert.Equal(t, float64(3000), all.Run["per_try_timeout_ms"])
	assert.NotContains(t, out, "s3cret")
}

func TestInterruptStillPrintsTheSummary(t *testing.T) {
	arrived := make(chan struct{}, 10)
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		htu.Hang().ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	code, out, errOut := runDemo(t, ctx, "-url", srv.URL, "-n", "50", "-c", "2", "-per-try-timeout", "0")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "interrupted")
	assert.Contains(t, out, "succeeded")
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "-1"}, "-n must be positive"},
		{[]string{"-c", "0"}, "-c must be at least 1"},
		{[]string{"-retries", "-2"}, "-retries"},
		{[]string{"-url", "ftp://example.com/"}, "want http://host"},
		{[]string{"-url", "http://"}, "want http://host"},
		{[]string{"-url", "http://x/", "-H", "novalue"}, "want 'Name: value'"},
		{[]string{"-data", "x"}, "need -url"},
		{[]string{"-url", "http://x/", "-data", "a", "-data-file", "b"}, "exclusive"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-timeout", "0s"}, "-timeout must be positive"},
		{[]string{"-url", "http://x/", "-data-file", "/does/not/exist"}, "-data-file"},
		{[]string{"-n", "0"}, "-n must be positive"},
		{[]string{"-url", "http://x/", "-method", "BAD METHOD"}, "is not an HTTP method"},
		{[]string{"-url", "http://x/", "-method", ""}, "is not an HTTP method"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			code, _, errOut := runDemo(t, context.Background(), tc.args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, tc.want)
		})
	}
}

func TestHelp(t *testing.T) {
	code, _, errOut := runDemo(t, context.Background(), "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "Examples:")
	assert.Contains(t, errOut, "-per-try-timeout")
	assert.Contains(t, errOut, "500ms by default, 3s with -url")
	assert.NotContains(t, errOut, "(default 500ms)", "one default, said once")
}

// A call's schedule is the seed's alone, and never has more faults in a row
// than 3 retries can get past: the exit status means something.
func TestScheduleIsReproducibleAndBounded(t *testing.T) {
	for seed := range uint64(50) {
		faulted := 0
		for call := range 200 {
			post := call%5 == 4
			f := faults(seed, call, post)
			require.Equal(t, f, faults(seed, call, post), "same seed, same schedule")
			require.LessOrEqual(t, len(f), maxFaults)
			if len(f) > 0 {
				faulted++
			}
		}
		assert.InDelta(t, 40, faulted, 25, "about 1 call in 5 meets a fault (seed %d)", seed)
	}
	schedule := func(seed uint64) (all [][]fault) {
		for call := range 200 {
			all = append(all, faults(seed, call, call%5 == 4))
		}
		return all
	}
	assert.NotEqual(t, schedule(1), schedule(2), "another seed, another schedule")
}

// The same seed twice: the same attempts, whatever the interleaving.
func TestSeedRepeatsARun(t *testing.T) {
	attempts := func() float64 {
		code, out, errOut := runDemo(t, context.Background(), "-n", "30", "-c", "3", "-json", "-seed", "11")
		require.Equal(t, 0, code, errOut)
		return decode(t, out)[0]["attempts_sent"].(float64)
	}
	assert.Equal(t, attempts(), attempts())
}

// Secrets in -url never reach the summary, in the table or in JSON.
func TestURLSecretsAreRedacted(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(503))
	u := strings.Replace(srv.URL, "http://", "http://user:pa55word@", 1) + "/x?token=s3cr3t-tok"
	for _, format := range [][]string{nil, {"-json"}} {
		code, out, errOut := runDemo(t, context.Background(), append([]string{"-url", u, "-n", "1", "-retries", "0"}, format...)...)
		assert.Equal(t, 1, code)
		for _, leak := range []string{"pa55word", "s3cr3t-tok"} {
			assert.NotContains(t, out, leak)
			assert.NotContains(t, errOut, leak)
		}
		assert.Contains(t, out, "REDACTED")
	}
}

func TestProgressShowsCallsInFlight(t *testing.T) {
	var buf bytes.Buffer
	p := progressLine(&buf, "rtchain", 10, true)
	p(3, 1, 4)
	assert.Contains(t, buf.String(), "3/10 calls, 1 failed, 4 in flight")
}

// -url gets a per-try timeout fit for a real endpoint unless one is given.
func TestPerTryTimeoutPerMode(t *testing.T) {
	var discard bytes.Buffer
	cfg, err := parseFlags(nil, &discard)
	require.NoError(t, err)
	assert.Equal(t, 500*time.Millisecond, cfg.perTryTimeout)
	cfg, err = parseFlags([]string{"-url", "http://example.test/"}, &discard)
	require.NoError(t, err)
	assert.Equal(t, urlPerTryTimeout, cfg.perTryTimeout)
	cfg, err = parseFlags([]string{"-url", "http://example.test/", "-per-try-timeout", "0"}, &discard)
	require.NoError(t, err)
	assert.Zero(t, cfg.perTryTimeout)
}
