package rtotel_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/rtotel"
	"github.com/rtchain/rtchain/transport"
)

// telemetry is an in-memory OpenTelemetry: the spans that ended, and a
// reader of the metrics.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	inst   *rtotel.Instrumentation
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	var err error
	tel.inst, err = rtotel.New(rtotel.Options{MeterProvider: mp, TracerProvider: tel.tp})
	require.NoError(t, err)
	return tel
}

// metrics returns the data points collected so far, by metric name.
func (tel *telemetry) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != rtotel.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func attrs(kv ...attribute.KeyValue) attribute.Set { return attribute.NewSet(kv...) }

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

// A call answered 503, 503, 200 through Client: three client spans under
// the caller's, the resent two marked; two retry events on the caller's
// span; the metrics to match.
func TestClientReportsRetries(t *testing.T) {
	tel := newTelemetry(t)
	srv := htu.NewServer(t, htu.Status(503), htu.Status(503), htu.OK("ok"))
	host := hostOf(t, srv.URL)
	client := tel.inst.Client(transport.ClientOptions{Retry: transport.RetryPolicy{BaseDelay: time.Millisecond}})
	t.Cleanup(client.CloseIdleConnections)

	ctx, root := tel.tp.Tracer("test").Start(context.Background(), "call")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	root.End()

	spans := tel.spans.Ended()
	require.Len(t, spans, 4, "three attempts and the caller's")
	var resends []any
	for _, s := range spans[:3] {
		assert.Equal(t, root.SpanContext().SpanID(), s.Parent().SpanID(), "each attempt is a child of the call")
		var count any = "unset"
		for _, kv := range s.Attributes() {
			if kv.Key == "http.request.resend_count" {
				count = kv.Value.AsInt64()
			}
		}
		resends = append(resends, count)
	}
	assert.Equal(t, []any{"unset", int64(1), int64(2)}, resends)
	events := spans[3].Events()
	require.Len(t, events, 2)
	for n, e := range events {
		assert.Equal(t, "rtchain.retry", e.Name)
		set := attribute.NewSet(e.Attributes...)
		reason, _ := set.Value("rtchain.retry.reason")
		attempt, _ := set.Value("rtchain.attempt")
		assert.Equal(t, "503", reason.AsString())
		assert.Equal(t, int64(n+1), attempt.AsInt64())
	}

	m := tel.metrics(t)
	retries := m["rtchain.client.retries"].(metricdata.Sum[int64])
	require.Len(t, retries.DataPoints, 1)
	assert.Equal(t, int64(2), retries.DataPoints[0].Value)
	assert.Equal(t, attrs(attribute.String("server.address", host), attribute.String("rtchain.retry.reason", "503"),
		attribute.Bool("rtchain.retry.after", false)), retries.DataPoints[0].Attributes)
	wait := m["rtchain.client.retry.wait"].(metricdata.Histogram[float64])
	require.Len(t, wait.DataPoints, 1)
	assert.Equal(t, uint64(2), wait.DataPoints[0].Count)
	calls := m["rtchain.client.call.attempts"].(metricdata.Histogram[int64])
	require.Len(t, calls.DataPoints, 1)
	assert.Equal(t, uint64(1), calls.DataPoints[0].Count)
	assert.Equal(t, int64(3), calls.DataPoints[0].Sum)
	assert.NotContains(t, m, "rtchain.client.give_ups", "nothing gave up")
}

// A limit that stops a retry is an event and a metric, with its reason.
func TestGiveUpsAndPacing(t *testing.T) {
	tel := newTelemetry(t)
	// The second 503 announces a spent quota of 2 a second: the next call
	// waits for its turn (a 429's cool-down would hold the host only once
	// its throttles were known to be the host's).
	quota := http.Header{"Ratelimit": {`"d";r=0;t=1`}, "Ratelimit-Policy": {`"d";q=2;w=1`}}
	srv := htu.NewServer(t, htu.RetryAfterSeconds(http.StatusServiceUnavailable, 1),
		htu.Respond(http.StatusServiceUnavailable, quota, ""), htu.Respond(http.StatusOK, quota, "ok"))
	host := hostOf(t, srv.URL)
	client := tel.inst.Client(transport.ClientOptions{Retry: transport.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond}})
	t.Cleanup(client.CloseIdleConnections)
	for range 2 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
	}
	m := tel.metrics(t)
	giveUps := m["rtchain.client.give_ups"].(metricdata.Sum[int64])
	require.Len(t, giveUps.DataPoints, 1)
	assert.Equal(t, int64(1), giveUps.DataPoints[0].Value)
	assert.Equal(t, attrs(attribute.String("server.address", host), attribute.String("rtchain.give_up.reason", "max_retries")),
		giveUps.DataPoints[0].Attributes)
	// The first 503 asked for a wait of 1s: the retry waited it out in
	// Retry; the second call met a host paced by its quota.
	paced, ok := m["rtchain.client.paced"].(metricdata.Sum[int64])
	require.True(t, ok, "pacing was recorded")
	var reasons []string
	for _, dp := range paced.DataPoints {
		r, _ := dp.Attributes.Value("rtchain.pace.reason")
		reasons = append(reasons, r.AsString())
	}
	assert.NotEmpty(t, reasons)
}

// The breaker's hook records each transition and the state a host is in.
func TestBreakerStateChange(t *testing.T) {
	tel := newTelemetry(t)
	tel.inst.BreakerStateChange("a.test", transport.Closed, transport.Open)
	tel.inst.BreakerStateChange("a.test", transport.Open, transport.HalfOpen)
	m := tel.metrics(t)
	transitions := m["rtchain.client.breaker.transitions"].(metricdata.Sum[int64])
	assert.Len(t, transitions.DataPoints, 2)
	state := m["rtchain.client.breaker.state"].(metricdata.Gauge[int64])
	require.Len(t, state.DataPoints, 1)
	assert.Equal(t, int64(transport.HalfOpen), state.DataPoints[0].Value)
	assert.Equal(t, attrs(attribute.String("server.address", "a.test")), state.DataPoints[0].Attributes)
}

func TestReplayed(t *testing.T) {
	tel := newTelemetry(t)
	req, err := http.NewRequest(http.MethodPost, "http://a.test/pay", nil)
	require.NoError(t, err)
	tel.inst.Replayed(req)
	tel.inst.Replayed(req)
	replays := tel.metrics(t)["rtchain.server.idempotency.replays"].(metricdata.Sum[int64])
	require.Len(t, replays.DataPoints, 1)
	assert.Equal(t, int64(2), replays.DataPoints[0].Value)
}

// A download that breaks off and is resumed is counted, by outcome.
func TestResumes(t *testing.T) {
	tel := newTelemetry(t)
	body := strings.Repeat("x", 4096)
	etag := `"v1"`
	cut := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", etag)
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", "4096")
		_, _ = io.WriteString(w, body[:1000])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	})
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", etag)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
	})
	srv := htu.NewServer(t, cut, rest)
	client := tel.inst.Client(transport.ClientOptions{Retry: transport.RetryPolicy{BaseDelay: time.Millisecond}})
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	resumes := tel.metrics(t)["rtchain.client.resumes"].(metricdata.Sum[int64])
	require.Len(t, resumes.DataPoints, 1)
	assert.Equal(t, int64(1), resumes.DataPoints[0].Value)
	assert.Equal(t, attrs(attribute.String("server.address", hostOf(t, srv.URL)), attribute.String("rtchain.resume.outcome", "resumed")),
		resumes.DataPoints[0].Attributes)
}
