package rtotel

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCachedHosts bounds the hosts whose attribute set is kept: past it, a
// host's set is built for each measurement instead.
const maxCachedHosts = 1024

// hostAttrs keeps, per host, the measurement option that carries its
// server.address, so that the success path builds no attribute set.
type hostAttrs struct {
	m sync.Map // host → metric.MeasurementOption
	n atomic.Int64
}

func (h *hostAttrs) option(host string) metric.MeasurementOption {
	if v, ok := h.m.Load(host); ok {
		return v.(metric.MeasurementOption)
	}
	opt := metric.WithAttributeSet(attribute.NewSet(serverAddress(host)))
	if h.n.Load() < maxCachedHosts {
		if _, loaded := h.m.LoadOrStore(host, opt); !loaded {
			h.n.Add(1)
		}
	}
	return opt
}
