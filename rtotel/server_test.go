package rtotel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/overload"
	"github.com/rtchain/rtchain/transport"
)

// counts returns a counter's points, by attribute set.
func counts(t *testing.T, tel *telemetry, name string) map[attribute.Set]int64 {
	t.Helper()
	data, ok := tel.metrics(t)[name]
	require.True(t, ok, "no %s", name)
	sum, ok := data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T", name, data)
	assert.True(t, sum.IsMonotonic, "%s is a counter", name)
	got := map[attribute.Set]int64{}
	for _, p := range sum.DataPoints {
		got[p.Attributes] = p.Value
	}
	return got
}

func post(t *testing.T, url, key, body string, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func outcome(o string) attribute.Set {
	return attrs(attribute.String("rtchain.idempotency.outcome", o))
}

// A real server's requests, counted by outcome through
// Options.OnOutcome; replays in both counters.
func TestIdempotencyOutcomesAreCounted(t *testing.T) {
	tel := newTelemetry(t)
	srv := htu.NewServer(t, idempotency.Middleware(idempotency.Options{
		OnOutcome: tel.inst.IdempotencyOutcome, OnReplay: tel.inst.Replayed,
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	assert.Equal(t, http.StatusCreated, post(t, srv.URL, "k", "x"))
	assert.Equal(t, http.StatusCreated, post(t, srv.URL, "k", "x"))
	assert.Equal(t, http.StatusCreated, post(t, srv.URL, "k", "x"))
	assert.Equal(t, http.StatusUnprocessableEntity, post(t, srv.URL, "k", "y"))
	assert.Equal(t, http.StatusBadRequest, post(t, srv.URL, `"k`, "x"))
	assert.Equal(t, http.StatusCreated, post(t, srv.URL, "", "x"), "no key: not covered")
	srv.Close() // the handlers have returned: every outcome is in
	tel.inst.IdempotencyOutcome(httptestRequest(t), "from a newer rtchain")

	assert.Equal(t, map[attribute.Set]int64{
		outcome("first_run"): 1, outcome("replayed"): 2, outcome("key_reused"): 1,
		outcome("invalid_key"): 1, outcome("other"): 1,
	}, counts(t, tel, "rtchain.server.idempotency.requests"))
	assert.Equal(t, map[attribute.Set]int64{*attribute.EmptySet(): 2}, counts(t, tel, "rtchain.server.idempotency.replays"))
}

func httptestRequest(t *testing.T) *http.Request {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://svc.test/pay", nil)
	require.NoError(t, err)
	return req
}

func shed(reason, priority string, more ...attribute.KeyValue) attribute.Set {
	return attrs(append(more, attribute.String("rtchain.overload.reason", reason),
		attribute.String("rtchain.overload.priority", priority))...)
}

// A real server's shed requests, counted by reason and priority through
// overload.Options.OnShed.
func TestShedRequestsAreCounted(t *testing.T) {
	tel := newTelemetry(t)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := htu.NewServer(t, overload.Middleware(overload.Options{
		Limiter:       overload.NewLimiter(overload.LimiterOptions{InitialLimit: 1, MaxLimit: 1, Queue: -1}),
		TimeoutHeader: "X-Timeout",
		OnShed:        tel.inst.Shed,
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		<-release
	})))
	done := make(chan int, 1)
	go func() { done <- post(t, srv.URL, "", "holds the one slot") }()
	<-started
	assert.Equal(t, http.StatusServiceUnavailable, post(t, srv.URL, "", "x"))
	assert.Equal(t, http.StatusServiceUnavailable, post(t, srv.URL, "", "x", "Retry-Attempt", "2"))
	assert.Equal(t, http.StatusServiceUnavailable, post(t, srv.URL, "", "x", "X-Timeout", "1n"))
	close(release)
	assert.Equal(t, http.StatusOK, <-done)

	assert.Equal(t, map[attribute.Set]int64{
		shed("overloaded", "normal"): 1, shed("overloaded", "sheddable"): 1, shed("deadline", "normal"): 1,
	}, counts(t, tel, "rtchain.server.overload.shed"))
}

// The RPC server's outcomes and shed calls carry rpc.system and
// rpc.method beside their own attributes.
func TestRPCServerOutcomesAndShed(t *testing.T) {
	tel := newTelemetry(t)
	rpc := tel.inst.RPC("grpc")
	ctx := context.Background()
	const method = "/payments.Payments/Pay"
	rpc.IdempotencyOutcome(ctx, method, idempotency.OutcomeFirstRun)
	rpc.IdempotencyOutcome(ctx, method, idempotency.OutcomeInProgress)
	rpc.IdempotencyOutcome(ctx, method, idempotency.OutcomeInProgress)
	rpc.Shed(ctx, method, overload.ShedEvent{Priority: overload.Sheddable, Err: overload.ErrOverloaded})
	rpc.Shed(ctx, method, overload.ShedEvent{Priority: overload.Critical + 1, Err: context.Canceled})

	sys, meth := attribute.String("rpc.system", "grpc"), attribute.String("rpc.method", method)
	assert.Equal(t, map[attribute.Set]int64{
		attrs(sys, meth, attribute.String("rtchain.idempotency.outcome", "first_run")):   1,
		attrs(sys, meth, attribute.String("rtchain.idempotency.outcome", "in_progress")): 2,
	}, counts(t, tel, "rtchain.server.idempotency.requests"))
	assert.Equal(t, map[attribute.Set]int64{
		shed("overloaded", "sheddable", sys, meth): 1,
		shed("overloaded", "critical", sys, meth):  1,
	}, counts(t, tel, "rtchain.server.overload.shed"))
}

func rejected(host, reason string) attribute.Set {
	return attrs(attribute.String("server.address", host), attribute.String("rtchain.rejected.reason", reason))
}

// A call that ends with an attempt the client rejected itself is counted,
// by its RejectedError's Kind; a call that ends otherwise is not.
func TestRejectedCallsAreCounted(t *testing.T) {
	tel := newTelemetry(t)
	reasons := map[transport.RejectKind]string{
		transport.RejectCoolDown: "cool_down",
		transport.RejectPace:     "pace",
		transport.RejectThrottle: "adaptive_throttle",
		transport.RejectLimit:    "limit",
		transport.RejectOther:    "other",
	}
	for kind := range reasons {
		base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			return nil, &transport.RejectedError{Host: req.URL.Host, Kind: kind, Reason: "some words"}
		})
		client := &http.Client{Transport: transport.Chain(base, tel.inst.Calls(), transport.Retry(transport.RetryPolicy{MaxRetries: -1}))}
		_, err := client.Get("http://api.test/")
		require.ErrorIs(t, err, transport.ErrRejectedLocally)
	}
	failing := transport.RoundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("reset") })
	client := &http.Client{Transport: transport.Chain(failing, tel.inst.Calls(), transport.Retry(transport.RetryPolicy{MaxRetries: -1}))}
	_, err := client.Get("http://api.test/")
	require.Error(t, err)

	want := map[attribute.Set]int64{}
	for _, name := range reasons {
		want[rejected("api.test", name)] = 1
	}
	assert.Equal(t, want, counts(t, tel, "rtchain.client.rejected"))
}

// transport's own Limit rejects an attempt that finds no slot in time: its
// RejectedError's Kind is what rtotel counts.
func TestRejectedByLimitIsCounted(t *testing.T) {
	tel := newTelemetry(t)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		<-release
	}))
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	client := &http.Client{Transport: transport.Chain(base, tel.inst.Calls(),
		transport.Retry(transport.RetryPolicy{MaxRetries: -1}),
		transport.Limit(transport.LimitOptions{Enabled: true, Initial: 1, Min: 1, Max: 1}))}
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(srv.URL)
		if err == nil {
			err = resp.Body.Close()
		}
		done <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	_, err = client.Do(req)
	require.ErrorIs(t, err, transport.ErrRejectedLocally)
	close(release)
	require.NoError(t, <-done)

	assert.Equal(t, map[attribute.Set]int64{rejected(hostOf(t, srv.URL), "limit"): 1},
		counts(t, tel, "rtchain.client.rejected"), fmt.Sprint(err))
}
