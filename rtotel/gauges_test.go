package rtotel_test

import (
	"context"
	"net/http"
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

// gauge returns the value of a gauge's point with attributes a, and
// whether there is one.
func gauge(t *testing.T, m map[string]metricdata.Aggregation, name string, a attribute.Set) (int64, bool) {
	t.Helper()
	g, ok := m[name].(metricdata.Gauge[int64])
	if !ok {
		return 0, false
	}
	for _, p := range g.DataPoints {
		if p.Attributes.Equals(&a) {
			return p.Value, true
		}
	}
	return 0, false
}

// Client's Limit layer is read by the gauges of each host's limit and of
// what is in flight to it, at collection time.
func TestClientLimitGauges(t *testing.T) {
	tel := newTelemetry(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	client := tel.inst.Client(transport.ClientOptions{Limit: transport.LimitOptions{Enabled: true, Initial: 5}})
	t.Cleanup(client.CloseIdleConnections)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := client.Get(srv.URL)
			if assert.NoError(t, err) {
				_ = resp.Body.Close()
			}
		})
		<-arrived
	}
	host := attrs(attribute.String("server.address", hostOf(t, srv.URL)))
	m := tel.metrics(t)
	limit, ok := gauge(t, m, "rtchain.client.limit", host)
	assert.True(t, ok, "rtchain.client.limit")
	assert.Equal(t, int64(5), limit)
	inFlight, _ := gauge(t, m, "rtchain.client.limit.in_flight", host)
	assert.Equal(t, int64(2), inFlight)
	waiting, ok := gauge(t, m, "rtchain.client.limit.waiting", host)
	assert.True(t, ok, "rtchain.client.limit.waiting")
	assert.Zero(t, waiting)
	close(release)
	wg.Wait()
	inFlight, _ = gauge(t, tel.metrics(t), "rtchain.client.limit.in_flight", host)
	assert.Zero(t, inFlight, "after the calls")
}

// An overload.Limiter and a MemoryStore are read by their gauges, named,
// until their registrations are undone.
func TestServerGauges(t *testing.T) {
	tel := newTelemetry(t)
	lim := overload.NewLimiter(overload.LimiterOptions{})
	limReg, err := tel.inst.ObserveLimiter("api", lim)
	require.NoError(t, err)
	store := idempotency.NewMemoryStore(0, 0)
	storeReg, err := tel.inst.ObserveStore("payments", store)
	require.NoError(t, err)

	slot, err := lim.Acquire(context.Background(), overload.Normal)
	require.NoError(t, err)
	_, _, err = store.Begin(context.Background(), "k1", idempotency.Record{Owner: "o"}, time.Minute)
	require.NoError(t, err)

	api := attrs(attribute.String("rtchain.limiter", "api"))
	payments := attrs(attribute.String("rtchain.store", "payments"))
	m := tel.metrics(t)
	got := func(name string, a attribute.Set) int64 {
		v, ok := gauge(t, m, name, a)
		assert.True(t, ok, name)
		return v
	}
	assert.Equal(t, int64(lim.Limit()), got("rtchain.server.overload.limit", api))
	assert.Positive(t, got("rtchain.server.overload.limit", api))
	assert.Equal(t, int64(1), got("rtchain.server.overload.in_flight", api))
	assert.Zero(t, got("rtchain.server.overload.queued", api))
	assert.Equal(t, int64(1), got("rtchain.server.idempotency.records", payments))
	assert.Equal(t, store.Bytes(), got("rtchain.server.idempotency.bytes", payments))
	slot.Cancel()

	require.NoError(t, limReg.Unregister())
	require.NoError(t, storeReg.Unregister())
	m = tel.metrics(t)
	_, ok := gauge(t, m, "rtchain.server.overload.limit", api)
	assert.False(t, ok, "unregistered")
	_, ok = gauge(t, m, "rtchain.server.idempotency.records", payments)
	assert.False(t, ok, "unregistered")
}

func TestObserveRefusesNil(t *testing.T) {
	tel := newTelemetry(t)
	_, err := tel.inst.ObserveLimiter("api", nil)
	assert.Error(t, err)
	_, err = tel.inst.ObserveStore("payments", nil)
	assert.Error(t, err)
}
