package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// monitoring is docs/monitoring, from this package's directory.
const monitoring = "../../../docs/monitoring"

// The proof of docs/monitoring: a real Prometheus (Debian's package) scrapes
// the instrumented demo service every second while it calls its failing,
// throttling, slow dependencies; then every query of every dashboard panel,
// and every alert's expression less its final threshold comparison (the
// quantity the alert watches), must return series through Prometheus's
// HTTP API. A query that matches nothing (a misspelt metric or label, a
// metric the service does not export) fails the test.
func TestPrometheusScrapesTheDemo(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (Debian's package: apt-get install prometheus; .ci/run installs it): " + err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()

	queries := panelQueries(t)
	for name, expr := range alertQuantities(t) {
		queries[name] = expr
	}

	// The demo service, its /metrics on a loopback port, its workload
	// running until the queries are done.
	s, err := newInstrumented()
	require.NoError(t, err)
	defer s.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics)
	target := httptest.NewServer(mux)
	defer target.Close()
	work, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.drive(work) })
	defer wg.Wait() // after stopWork, and before the servers close
	defer stopWork()

	prom := startPrometheus(ctx, t, bin, strings.TrimPrefix(target.URL, "http://"))
	api := &http.Client{Timeout: 5 * time.Second}
	defer api.CloseIdleConnections()

	// Three scrapes of the demo, so that every rate has its samples.
	poll(ctx, t, "three scrapes of the demo", func() error {
		v, err := query(ctx, api, prom, `count_over_time(up{job="rtchain-demo"}[1m])`)
		if err != nil {
			return err
		}
		if len(v) == 0 || v[0] < 3 {
			return fmt.Errorf("scrapes so far: %v", v)
		}
		return nil
	})

	// Every query, until each has returned series once (the workload's
	// rarer events, a breaker's cycle, take a few seconds).
	pending := make(map[string]string, len(queries))
	for name, expr := range queries {
		pending[name] = expr
	}
	poll(ctx, t, "every panel and alert query to return series", func() error {
		for name, expr := range pending {
			v, err := query(ctx, api, prom, expr)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if len(v) > 0 {
				delete(pending, name)
			}
		}
		if len(pending) > 0 {
			var empty []string
			for name, expr := range pending {
				empty = append(empty, name+": "+expr)
			}
			sort.Strings(empty)
			return fmt.Errorf("no series for %d of %d queries:\n%s", len(empty), len(queries), strings.Join(empty, "\n"))
		}
		return nil
	})
	t.Logf("%d queries (dashboard panels and alerts) returned series", len(queries))
}

// panelQueries returns the query of every target of every panel of
// dashboard.json, named "panel: title/refId", with Grafana's variables
// made concrete: $__rate_interval and $__interval as a dashboard over
// 1-second scrapes would see them, $job as its "All".
func panelQueries(t *testing.T) map[string]string {
	raw, err := os.ReadFile(filepath.Join(monitoring, "dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Templating struct {
			List []struct{ Name, Type, Query any }
		}
		Panels []struct {
			Title      string
			Type       string
			Datasource struct{ Type, UID string }
			Targets    []struct{ RefID, Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	hasDatasource := false
	for _, v := range dash.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDatasource = true
		}
	}
	require.True(t, hasDatasource, "dashboard.json: no datasource variable of type prometheus")
	vars := strings.NewReplacer("$__rate_interval", "30s", "${__rate_interval}", "30s",
		"$__interval", "5s", "${__interval}", "5s", "$job", ".*", "${job}", ".*")
	out := make(map[string]string)
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q: not on the datasource variable", p.Title)
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			expr := vars.Replace(tg.Expr)
			require.NotContains(t, expr, "$", "panel %q/%s: a variable left: %s", p.Title, tg.RefID, expr)
			out["panel: "+p.Title+"/"+tg.RefID] = expr
		}
	}
	return out
}

// threshold is an alert expression's final comparison with a number.
var threshold = regexp.MustCompile(`\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*$`)

// alertQuantities returns each alert of alerts.yml's expression less its
// final threshold comparison, named "alert: Name": what it watches, which
// must exist while the service runs, whether or not it crosses the
// threshold. Every alert must end in such a comparison.
func alertQuantities(t *testing.T) map[string]string {
	raw, err := os.ReadFile(filepath.Join(monitoring, "alerts.yml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	out := make(map[string]string)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			loc := threshold.FindStringIndex(r.Expr)
			require.NotNil(t, loc, "alert %s: its expression does not end in a threshold comparison: %s", r.Alert, r.Expr)
			out["alert: "+r.Alert] = strings.TrimSpace(r.Expr[:loc[0]])
		}
	}
	require.NotEmpty(t, out, "alerts.yml: no alert")
	return out
}

// startPrometheus runs bin on a free loopback port with a 1-second scrape
// of target and alerts.yml loaded, its storage in a temporary directory,
// until the test ends; it returns its base URL once it is ready.
func startPrometheus(ctx context.Context, t *testing.T, bin, target string) string {
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(monitoring, "alerts.yml"))
	require.NoError(t, err)
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: rtchain-demo
    static_configs:
      - targets: [%q]
`, rules, target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600))
	addr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	ready := &http.Client{Timeout: time.Second}
	defer ready.CloseIdleConnections()
	poll(ctx, t, "prometheus to be ready", func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := ready.Get(base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	return base
}

// freePort returns a loopback address with a port that was free a moment
// ago.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// query runs an instant query, and returns the value of each series of
// its vector (or its scalar).
func query(ctx context.Context, c *http.Client, base, expr string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string
		Error     string
		ErrorType string
		Data      struct {
			ResultType string
			Result     json.RawMessage
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", expr, body.ErrorType, body.Error)
	}
	var values []float64
	switch body.Data.ResultType {
	case "vector":
		var vec []struct{ Value [2]any }
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return nil, err
		}
		for _, s := range vec {
			str, _ := s.Value[1].(string)
			v, _ := strconv.ParseFloat(str, 64)
			values = append(values, v)
		}
	default:
		return nil, fmt.Errorf("query %s: a %s, not a vector", expr, body.Data.ResultType)
	}
	return values, nil
}

// poll calls check every 250 ms until it returns nil; when ctx ends first,
// the test fails with check's last error.
func poll(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-tick.C:
		}
	}
}
