// Command demo shows what an operator sees of rtchain through
// OpenTelemetry: it sends calls through an instrumented NewClient (rtotel's
// Client) to an embedded service that fails 1 call in 4 with 503 and
// throttles beyond 50 requests a second, then prints the rtchain metrics it
// collected, one line a data point, or with -json everything the
// OpenTelemetry stdout exporter writes (otelhttp's metrics too).
//
// With -listen, it is a service for Prometheus to scrape instead: it serves
// /metrics at that address (OpenTelemetry's Prometheus exporter) and calls
// its embedded dependencies until interrupted (see serve.go), both halves
// instrumented: the client, and the server behind idempotency.Middleware.
//
//	cd rtotel && go run ./cmd/demo
//	cd rtotel && go run ./cmd/demo -listen 127.0.0.1:9464
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/rtotel"
	"github.com/rtchain/rtchain/transport"
)

func main() {
	calls := flag.Int("n", 200, "calls to make")
	workers := flag.Int("c", 8, "calls at a time")
	asJSON := flag.Bool("json", false, "print every metric as the OpenTelemetry stdout exporter writes it")
	listen := flag.String("listen", "", "serve /metrics at this address (host:port) and call the embedded services until interrupted")
	flag.Parse()
	if *listen != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ln, err := net.Listen("tcp", *listen)
		if err == nil {
			err = serve(ctx, ln, os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Stdout, *calls, *workers, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, calls, workers int, asJSON bool) error {
	srv := httptest.NewServer(service())
	defer srv.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	inst, err := rtotel.New(rtotel.Options{MeterProvider: mp})
	if err != nil {
		return err
	}
	client := inst.Client(transport.ClientOptions{Retry: transport.RetryPolicy{BaseDelay: 10 * time.Millisecond}})
	defer client.CloseIdleConnections()

	var ok, failed atomic.Int32
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				resp, err := client.Get(fmt.Sprintf("%s/items/%d", srv.URL, i))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start).Round(time.Millisecond)
	summary := out
	if asJSON {
		summary = os.Stderr // stdout is the exporter's JSON alone, so that it parses
	}
	fmt.Fprintf(summary, "%d calls, %d at a time, in %v: %d succeeded, %d failed.\n\n",
		calls, workers, took, ok.Load(), failed.Load())

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return err
	}
	if asJSON {
		exp, err := stdoutmetric.New(stdoutmetric.WithWriter(out), stdoutmetric.WithPrettyPrint())
		if err != nil {
			return err
		}
		return exp.Export(context.Background(), &rm)
	}
	fmt.Fprint(out, "What an operator sees (rtchain's metrics and otelhttp's attempt latency; -json for all of them):\n")
	for _, line := range lines(rm) {
		fmt.Fprintln(out, line)
	}
	fmt.Fprintf(out, "\nA histogram's p50 and p99 are the upper bounds of the buckets they fall in. Its sum\n"+
		"adds up every call's time: %d calls ran %d at a time, so a sum can exceed the run's %v.\n",
		calls, workers, took)
	return nil
}

// service fails 1 call in 4 with 503, and throttles beyond 50 requests a
// second with 429 and Retry-After: 1.
func service() http.Handler { return flaky(rate.NewLimiter(50, 10)) }

// flaky fails 1 call in 4 with 503, and throttles beyond limit with 429 and
// Retry-After: 1.
func flaky(limit *rate.Limiter) http.HandlerFunc {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !limit.Allow() {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if n.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
}

// lines formats rtchain's data points, one a line, sorted.
func lines(rm metricdata.ResourceMetrics) []string {
	var out []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sm.Scope.Name != rtotel.ScopeName && m.Name != "http.client.request.duration" {
				continue // of otelhttp's, the latency of each attempt alone
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, fmt.Sprintf("  %-34s %8d %-13s %s", m.Name, dp.Value, m.Unit, labels(dp.Attributes)))
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, fmt.Sprintf("  %-34s %8d %-13s %s", m.Name, dp.Value, m.Unit, labels(dp.Attributes)))
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, fmt.Sprintf("  %-34s %8d %-13s %s (p50 ≤ %s, p99 ≤ %s, sum %d)", m.Name, dp.Count, "records",
						labels(dp.Attributes), quantile(dp.Bounds, dp.BucketCounts, 0.5, ""), quantile(dp.Bounds, dp.BucketCounts, 0.99, ""), dp.Sum))
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out = append(out, fmt.Sprintf("  %-34s %8d %-13s %s (p50 ≤ %s, p99 ≤ %s, sum %.3fs)", m.Name, dp.Count, "records",
						labels(dp.Attributes), quantile(dp.Bounds, dp.BucketCounts, 0.5, "s"), quantile(dp.Bounds, dp.BucketCounts, 0.99, "s"), dp.Sum))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// quantile returns the upper bound of the bucket that holds the q-th
// quantile of a histogram ("+Inf" for the last, open bucket), with unit.
func quantile(bounds []float64, counts []uint64, q float64, unit string) string {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return "-"
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			if i < len(bounds) {
				return strconv.FormatFloat(bounds[i], 'g', -1, 64) + unit
			}
			break
		}
	}
	return "+Inf"
}

func labels(set attribute.Set) string {
	var kv []string
	for _, a := range set.ToSlice() {
		switch a.Key {
		case "server.address", "server.port", "url.scheme", "network.protocol.name", "network.protocol.version":
			continue // one host, one protocol here
		}
		kv = append(kv, string(a.Key)+"="+a.Value.String())
	}
	return strings.Join(kv, " ")
}
