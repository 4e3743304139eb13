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

// hostAttrs keeps, per host, the options that carry its server.address, as
// a slice ready to pass on (opts...), so that the success path builds no
// attribute set and no variadic slice.
type hostAttrs struct {
	m sync.Map // host → []metric.RecordOption
	n atomic.Int64
}

func (h *hostAttrs) options(host string) []metric.RecordOption {
	if v, ok := h.m.Load(host); ok {
		return v.([]metric.RecordOption)
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(serverAddress(host)))}
	if h.n.Load() < maxCachedHosts {
		if _, loaded := h.m.LoadOrStore(host, opts); !loaded {
			h.n.Add(1)
		}
	}
	return opts
}
