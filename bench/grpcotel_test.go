package bench

import (
	"context"
	"maps"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rtchain/rtchain/rtgrpc"
	"github.com/rtchain/rtchain/rtotel"
)

// grpcTelemetry is docs/grpc.md's glue between rtgrpc's hooks and rtotel,
// compiled.
func grpcTelemetry(inst *rtotel.Instrumentation) (rtgrpc.ClientOptions, rtgrpc.ServerOptions) {
	rpc := inst.RPC("grpc")
	retry := rtgrpc.ClientOptions{
		OnRetry: func(e rtgrpc.RetryEvent) {
			rpc.Retry(context.Background(), e.Method, e.Status.Code().String(), e.Wait, e.FromPushback)
		},
		OnGiveUp: func(e rtgrpc.GiveUpEvent) { rpc.GiveUp(context.Background(), e.Method, e.Reason) },
		OnAttempt: func(e rtgrpc.AttemptEvent) { // grpc.client.attempt.started, by grpc.attempt_type
			rpc.AttemptStarted(context.Background(), e.Method, e.Attempt, e.Transparent)
		},
	}
	server := rtgrpc.ServerOptions{OnOutcome: rpc.IdempotencyOutcome} // replays, 409s, store failures, ...
	return retry, server
}

// rtgrpc's retries reach rtotel's metrics with rpc.system and rpc.method.
func TestGRPCTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	inst, err := rtotel.New(rtotel.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	retry, _ := grpcTelemetry(inst)
	retry.IdempotencyKeys = true
	svc := &grpcSvc{answer: func(_ context.Context, n int64) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "once")
		}
		return nil
	}}
	if failed := runGRPC(t, grpcPeer{name: "rtgrpc", opts: rtgrpcDial(retry)}, 1, svc); failed != 0 {
		t.Fatalf("%d calls failed", failed)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := false
	attempts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				sys, _ := p.Attributes.Value("rpc.system")
				switch m.Name {
				case "rtchain.client.retries":
					meth, _ := p.Attributes.Value("rpc.method")
					found = found || (sys.AsString() == "grpc" && meth.AsString() == "/grpc.testing.TestService/UnaryCall" && p.Value == 1)
				case "grpc.client.attempt.started":
					kind, _ := p.Attributes.Value("grpc.attempt_type")
					attempts[kind.AsString()] += p.Value
				}
			}
		}
	}
	if !found {
		t.Fatalf("no gRPC retry in the metrics: %+v", rm)
	}
	if want := map[string]int64{"original": 1, "retry": 1}; !maps.Equal(attempts, want) {
		t.Fatalf("grpc.client.attempt.started: %v, want %v", attempts, want)
	}
}
