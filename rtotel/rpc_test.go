package rtotel_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

func TestRPCRecordsWithRPCAttributes(t *testing.T) {
	tel := newTelemetry(t)
	rpc := tel.inst.RPC("grpc")
	ctx := context.Background()
	const method = "/payments.Payments/Pay"
	rpc.Retry(ctx, method, "UNAVAILABLE", 20*time.Millisecond, false)
	rpc.Retry(ctx, method, "RESOURCE_EXHAUSTED", time.Second, true)
	rpc.GiveUp(ctx, method, transport.GiveUpBudget)
	rpc.Replayed(ctx, method)

	m := tel.metrics(t)
	sys, meth := attribute.String("rpc.system", "grpc"), attribute.String("rpc.method", method)
	retries, ok := m["rtchain.client.retries"].(metricdata.Sum[int64])
	require.True(t, ok)
	got := map[attribute.Set]int64{}
	for _, p := range retries.DataPoints {
		got[p.Attributes] = p.Value
	}
	assert.Equal(t, map[attribute.Set]int64{
		attrs(sys, meth, attribute.String("rtchain.retry.reason", "UNAVAILABLE"), attribute.Bool("rtchain.retry.after", false)):       1,
		attrs(sys, meth, attribute.String("rtchain.retry.reason", "RESOURCE_EXHAUSTED"), attribute.Bool("rtchain.retry.after", true)): 1,
	}, got)
	wait := m["rtchain.client.retry.wait"].(metricdata.Histogram[float64])
	require.Len(t, wait.DataPoints, 1)
	assert.Equal(t, uint64(2), wait.DataPoints[0].Count)
	assert.Equal(t, attrs(sys, meth), wait.DataPoints[0].Attributes)
	giveUps := m["rtchain.client.give_ups"].(metricdata.Sum[int64])
	require.Len(t, giveUps.DataPoints, 1)
	assert.Equal(t, attrs(sys, meth, attribute.String("rtchain.give_up.reason", "budget")), giveUps.DataPoints[0].Attributes)
	replays := m["rtchain.server.idempotency.replays"].(metricdata.Sum[int64])
	require.Len(t, replays.DataPoints, 1)
	assert.Equal(t, attrs(sys, meth), replays.DataPoints[0].Attributes)
}

// Hedges and their winners reach the metrics, through the call's Trace.
func TestHedgesAreCounted(t *testing.T) {
	tel := newTelemetry(t)
	var n atomic.Int64
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	client := &http.Client{Transport: transport.Chain(nil, tel.inst.Calls(),
		transport.Hedge(transport.HedgeOptions{Delay: 10 * time.Millisecond}), transport.Retry(transport.RetryPolicy{}))}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	hedges := tel.metrics(t)["rtchain.client.hedges"].(metricdata.Sum[int64])
	got := map[bool]int64{}
	for _, p := range hedges.DataPoints {
		won, _ := p.Attributes.Value("rtchain.hedge.won")
		got[won.AsBool()] += p.Value
	}
	assert.Equal(t, map[bool]int64{false: 1, true: 1}, got)
}

// Each attempt is counted by its type, with gRPC's attribute names.
func TestRPCAttemptsByType(t *testing.T) {
	tel := newTelemetry(t)
	rpc := tel.inst.RPC("grpc")
	const method = "/payments.Payments/Pay"
	ctx := context.Background()
	rpc.AttemptStarted(ctx, method, 1, false)
	rpc.AttemptStarted(ctx, method, 2, true)
	rpc.AttemptStarted(ctx, method, 3, false)
	rpc.AttemptStarted(ctx, method, 1, false)
	started, ok := tel.metrics(t)["grpc.client.attempt.started"].(metricdata.Sum[int64])
	require.True(t, ok)
	got := map[string]int64{}
	for _, p := range started.DataPoints {
		m, _ := p.Attributes.Value("grpc.method")
		assert.Equal(t, method, m.AsString())
		kind, _ := p.Attributes.Value("grpc.attempt_type")
		got[kind.AsString()] += p.Value
	}
	assert.Equal(t, map[string]int64{"original": 2, "transparent_retry": 1, "retry": 1}, got)
}
