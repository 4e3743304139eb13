package rtotel

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/overload"
)

// otherValue is the attribute value of whatever a bounded set does not
// name.
const otherValue = "other"

// serverAttrs holds the measurement options of the server half's
// counters, one per value, made once in New: the server records no
// attribute set of its own per request.
type serverAttrs struct {
	outcomes map[idempotency.Outcome]metric.MeasurementOption
	shed     map[shedKey]metric.MeasurementOption
}

type shedKey struct {
	reason   string
	priority overload.Priority
}

var shedPriorities = []overload.Priority{overload.Sheddable, overload.Normal, overload.Critical}

func newServerAttrs() serverAttrs {
	a := serverAttrs{
		outcomes: map[idempotency.Outcome]metric.MeasurementOption{},
		shed:     map[shedKey]metric.MeasurementOption{},
	}
	for _, o := range append(idempotency.Outcomes(), otherValue) {
		a.outcomes[o] = metric.WithAttributeSet(attribute.NewSet(outcomeAttr(o)))
	}
	for _, reason := range []string{"overloaded", "deadline"} {
		for _, p := range shedPriorities {
			a.shed[shedKey{reason, p}] = metric.WithAttributeSet(attribute.NewSet(shedAttrs(reason, p)...))
		}
	}
	return a
}

func outcomeAttr(o idempotency.Outcome) attribute.KeyValue {
	return attribute.String("rtchain.idempotency.outcome", string(o))
}

// known returns o, or "other" for a value that idempotency.Outcomes does
// not list: the attribute's values stay a fixed set.
func (a serverAttrs) known(o idempotency.Outcome) idempotency.Outcome {
	if _, ok := a.outcomes[o]; ok {
		return o
	}
	return otherValue
}

// shedReason is why a request was shed, as an attribute value: deadline
// for overload.ErrDeadline, overloaded for the rest (the limit reached, or
// the caller gone while it waited), as the answer's problem type says.
func shedReason(err error) string {
	if errors.Is(err, overload.ErrDeadline) {
		return "deadline"
	}
	return "overloaded"
}

// priorityOf is p among the three named priorities: a value between two
// is counted with the nearer named one's side (below Normal sheddable,
// above it critical), as overload itself ranks it.
func priorityOf(p overload.Priority) overload.Priority {
	switch {
	case p < overload.Normal:
		return overload.Sheddable
	case p > overload.Normal:
		return overload.Critical
	}
	return overload.Normal
}

func shedAttrs(reason string, p overload.Priority) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("rtchain.overload.reason", reason),
		attribute.String("rtchain.overload.priority", p.String()),
	}
}

// IdempotencyOutcome counts a request that idempotency.Middleware covered,
// by how it ended (rtchain.idempotency.outcome: first_run, replayed,
// in_progress, ...; see idempotency.Outcome). Use it as
// idempotency.Options.OnOutcome; it counts replays too, into this counter
// (Replayed counts them into rtchain.server.idempotency.replays), so one
// of the two hooks is enough.
func (i *Instrumentation) IdempotencyOutcome(r *http.Request, o idempotency.Outcome) {
	i.idemRequests.Add(r.Context(), 1, i.server.outcomes[i.server.known(o)])
}

// Shed counts a request that overload.Middleware refused, by why
// (rtchain.overload.reason: overloaded or deadline) and its priority
// (rtchain.overload.priority: sheddable, normal or critical). Use it as
// overload.Options.OnShed.
func (i *Instrumentation) Shed(r *http.Request, e overload.ShedEvent) {
	i.shed.Add(r.Context(), 1, i.server.shed[shedKey{shedReason(e.Err), priorityOf(e.Priority)}])
}

// IdempotencyOutcome counts a call that the server's idempotency
// interceptor covered, by how it ended, with rpc.method: use it as
// rtgrpc.ServerOptions.OnOutcome.
func (r RPC) IdempotencyOutcome(ctx context.Context, method string, o idempotency.Outcome) {
	r.i.idemRequests.Add(ctx, 1, metric.WithAttributes(r.system, attribute.String("rpc.method", method),
		outcomeAttr(r.i.server.known(o))))
}

// Shed counts a call that the server's overload interceptor refused, by
// why and its priority, with rpc.method: use it as
// rtgrpc.OverloadOptions.OnShed.
func (r RPC) Shed(ctx context.Context, method string, e overload.ShedEvent) {
	kv := append(shedAttrs(shedReason(e.Err), priorityOf(e.Priority)), r.system, attribute.String("rpc.method", method))
	r.i.shed.Add(ctx, 1, metric.WithAttributes(kv...))
}
