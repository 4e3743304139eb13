package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// Run everything: go test -run '^$' -bench . -benchmem -count 6 .

// BenchmarkSuccess is a GET answered 200 over loopback.
func BenchmarkSuccess(b *testing.B) {
	url := newServer(b, htu.OK("ok"))
	for _, lib := range Libs {
		b.Run(lib.Name, func(b *testing.B) {
			rt := lib.Wrap(newBase(b), true)
			b.ReportAllocs()
			for b.Loop() {
				get(b, rt, url)
			}
		})
		b.Run(lib.Name+"/parallel", func(b *testing.B) {
			rt := lib.Wrap(newBase(b), true)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, rt, url)
				}
			})
		})
	}
}

// canned answers 200 at once: what remains is the middleware's own cost.
var canned = transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
})

// retryOnly is rtchain's Retry alone: one layer, as each peer is.
var retryOnly = Lib{"rtchain/Retry only", func(base http.RoundTripper, budget bool) http.RoundTripper {
	return transport.Chain(base, transport.Retry(transport.RetryPolicy{
		MaxRetries: MaxRetries, BaseDelay: 1, Budget: transport.RetryBudget{Disabled: !budget},
	}))
}}

// noStall is the default chain without BodyStallTimeout: what the
// response body's stall timer costs, beside the rtchain row.
var noStall = Lib{"rtchain/no body-stall timeout", func(base http.RoundTripper, budget bool) http.RoundTripper {
	return transport.NewClientWith(transport.ClientOptions{
		Base: base, Log: transport.LogOptions{Logger: quiet},
		Retry: transport.RetryPolicy{MaxRetries: MaxRetries, BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond,
			Budget: transport.RetryBudget{Disabled: !budget}},
		Breaker: transport.BreakerOptions{Disabled: !budget}, Timeout: -1, BodyStallTimeout: -1,
	}).Transport
}}

// BenchmarkOverhead is a bodiless GET over a base that answers at once.
func BenchmarkOverhead(b *testing.B) {
	for _, lib := range append(Libs, retryOnly, noStall) {
		b.Run(lib.Name, func(b *testing.B) {
			rt := lib.Wrap(canned, true)
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://api.test/items?id=1", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkRetried is a GET answered 503, 503, 200, with no waits.
func BenchmarkRetried(b *testing.B) {
	for _, lib := range Libs[1:] {
		b.Run(lib.Name, func(b *testing.B) {
			url := newServer(b, cycling(3))
			base := newBase(b)
			rt := lib.Wrap(base, false)
			b.ReportAllocs()
			for b.Loop() {
				if code := get(b, rt, url); code != http.StatusOK {
					b.Fatalf("status %d", code)
				}
			}
			b.ReportMetric(float64(base.dials.Load())/float64(b.N), "conns/op")
		})
	}
}

// BenchmarkBodyReplay is a 64 MiB PUT from a plain reader (no GetBody, no
// length), answered 503 and then 200: the peak heap each library needs.
func BenchmarkBodyReplay(b *testing.B) {
	const size = 64 << 20
	libs := append([]Lib{}, Libs[1:]...)
	libs = append(libs, Lib{"rtchain/limit=128MiB", func(base http.RoundTripper, _ bool) http.RoundTripper {
		return transport.Chain(base, transport.Retry(transport.RetryPolicy{
			MaxRetries: MaxRetries, BaseDelay: 1, Body: bodyreplay.Options{Limit: 128 << 20},
		}))
	}})
	b.Run("bare, both attempts from memory", func(b *testing.B) {
		// The floor: a bare client sending the same two attempts from a
		// buffer it already holds (bytes.Reader, GetBody), as no retrying
		// client can for a plain reader.
		srv := httptest.NewServer(cycling(2))
		b.Cleanup(srv.Close)
		base := newBase(b)
		data, _ := io.ReadAll(streamOnly(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, want := range []int{http.StatusServiceUnavailable, http.StatusOK} {
				req, _ := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(data))
				if code, err := roundTrip(b, base, req); err != nil || code != want {
					b.Fatalf("%d %v, want %d", code, err, want)
				}
			}
		}
	})
	for _, lib := range libs {
		b.Run(lib.Name, func(b *testing.B) {
			// A plain server that discards the body: httptestutil's would
			// record it, in this process, and blur the figure.
			srv := httptest.NewServer(cycling(2))
			b.Cleanup(srv.Close)
			url := srv.URL
			rt := lib.Wrap(newBase(b), false)
			var peak uint64
			ok := 0
			b.ReportAllocs()
			for b.Loop() {
				runtime.GC()
				stop := heapPeak()
				req, _ := http.NewRequest(http.MethodPut, url, streamOnly(size))
				code, err := roundTrip(b, rt, req)
				if err != nil {
					b.Fatal(err)
				}
				if code == http.StatusOK {
					ok++
				} else {
					// Not retried (rtchain above its limit): realign the server.
					get(b, rt, url)
				}
				peak = max(peak, stop())
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
			b.ReportMetric(float64(ok)/float64(b.N), "ok/op")
		})
	}
}
