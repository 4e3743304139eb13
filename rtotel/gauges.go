package rtotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rtchain/rtchain/overload"
	"github.com/rtchain/rtchain/transport"
)

// The gauges are read when the metrics are collected (a scrape), never on
// a call's path.

// observeLimits registers the gauges of the client's Limit layers, read
// from i.limits.
func (i *Instrumentation) observeLimits(m metric.Meter) error {
	limit, err1 := m.Int64ObservableGauge("rtchain.client.limit", metric.WithUnit("{attempt}"),
		metric.WithDescription("A host's concurrency limit, as the client's Limit layer learned it."))
	inFlight, err2 := m.Int64ObservableGauge("rtchain.client.limit.in_flight", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts in flight to a host, under its concurrency limit."))
	waiting, err3 := m.Int64ObservableGauge("rtchain.client.limit.waiting", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts waiting for a slot of a host's concurrency limit."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		i.limits.Each(func(host string, l, f, w int) {
			attrs := metric.WithAttributeSet(attribute.NewSet(serverAddress(host)))
			o.ObserveInt64(limit, int64(l), attrs)
			o.ObserveInt64(inFlight, int64(f), attrs)
			o.ObserveInt64(waiting, int64(w), attrs)
		})
		return nil
	}, limit, inFlight, waiting)
	return err
}

// LimitStats returns what the gauges of the client's concurrency limits
// (rtchain.client.limit, .in_flight, .waiting) read: Client gives it to
// its Limit layer; give it to transport.LimitOptions.Stats of a chain you
// build yourself.
func (i *Instrumentation) LimitStats() *transport.LimitStats { return &i.limits }

// ObserveLimiter reports l, an overload.Limiter, in three gauges read at
// each collection: its limit (rtchain.server.overload.limit), the requests
// it admitted that are in flight (.in_flight) and those queued for a slot
// (.queued), with the attribute rtchain.limiter = name. Call it once per
// Limiter, with a fixed name ("api"); Unregister the result when the
// Limiter is done with.
func (i *Instrumentation) ObserveLimiter(name string, l *overload.Limiter) (metric.Registration, error) {
	if l == nil {
		return nil, errors.New("rtotel: ObserveLimiter: nil Limiter")
	}
	limit, err1 := i.meter.Int64ObservableGauge("rtchain.server.overload.limit", metric.WithUnit("{request}"),
		metric.WithDescription("The overload limiter's concurrency limit, learned from latency."))
	inFlight, err2 := i.meter.Int64ObservableGauge("rtchain.server.overload.in_flight", metric.WithUnit("{request}"),
		metric.WithDescription("Requests the overload limiter admitted that are in flight."))
	queued, err3 := i.meter.Int64ObservableGauge("rtchain.server.overload.queued", metric.WithUnit("{request}"),
		metric.WithDescription("Requests waiting in the overload limiter's queue for a slot."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("rtchain.limiter", name)))
	return i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(limit, int64(l.Limit()), attrs)
		o.ObserveInt64(inFlight, int64(l.InFlight()), attrs)
		o.ObserveInt64(queued, int64(l.Queued()), attrs)
		return nil
	}, limit, inFlight, queued)
}

// ObserveStore reports the records an idempotency store holds
// (rtchain.server.idempotency.records) and their size
// (rtchain.server.idempotency.bytes) in gauges read at each collection,
// with the attribute rtchain.store = name. s is any store that can count
// itself cheaply, as idempotency.MemoryStore does (Len and Bytes, O(1));
// the shared stores (Redis, SQL) are counted by their own servers' metrics.
// Unregister the result when the store is done with.
func (i *Instrumentation) ObserveStore(name string, s interface {
	Len() int
	Bytes() int64
}) (metric.Registration, error) {
	if s == nil {
		return nil, errors.New("rtotel: ObserveStore: nil store")
	}
	records, err1 := i.meter.Int64ObservableGauge("rtchain.server.idempotency.records", metric.WithUnit("{record}"),
		metric.WithDescription("Records an idempotency store holds, in progress and completed."))
	bytes, err2 := i.meter.Int64ObservableGauge("rtchain.server.idempotency.bytes", metric.WithUnit("By"),
		metric.WithDescription("The size of the records an idempotency store holds."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("rtchain.store", name)))
	return i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(records, int64(s.Len()), attrs)
		o.ObserveInt64(bytes, s.Bytes(), attrs)
		return nil
	}, records, bytes)
}
