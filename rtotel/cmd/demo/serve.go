package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/overload"
	"github.com/rtchain/rtchain/rtotel"
	"github.com/rtchain/rtchain/transport"
)

// instrumented is the demo with -listen: a service for Prometheus to
// scrape. Its dependencies are embedded servers: orders (behind
// idempotency.Middleware and overload.Middleware, failing, throttling and
// stalling some of the time, its idempotency store failing 1 Begin in 8),
// inventory (down: every call answers 500, and the client's breaker opens)
// and payments (refusing every call with 503, called by a client whose
// breaker is off: its retry budget runs out, and its adaptive throttle
// rejects attempts unsent). The clients, rtotel's, call them with retries,
// hedges and keyed POSTs, and /metrics exposes what the clients and the
// orders server recorded, through OpenTelemetry's Prometheus exporter.
type instrumented struct {
	mp        *sdkmetric.MeterProvider
	metrics   http.Handler
	orders    *httptest.Server
	inventory *httptest.Server
	payments  *httptest.Server
	client    *http.Client
	batch     *http.Client // its breaker off: the retry budget and the adaptive throttle hold it back
	seq       atomic.Int64
}

// timeoutHeader is where the demo's client says how long it waits, for
// overload.Middleware's deadline.
const timeoutHeader = "X-Timeout-Ms"

func newInstrumented() (*instrumented, error) {
	reg := prometheus.NewRegistry()
	// The translation strategy is named, not left to the exporter's
	// default (which may change): docs/monitoring's alerts and dashboard
	// use these names.
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	inst, err := rtotel.New(rtotel.Options{MeterProvider: mp})
	if err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, err
	}
	s := &instrumented{mp: mp, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	orders, err := ordersService(inst)
	if err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, err
	}
	s.orders = httptest.NewServer(orders)
	s.inventory = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	s.payments = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	s.batch = inst.Client(transport.ClientOptions{
		Breaker: transport.BreakerOptions{Disabled: true},
		Retry:   transport.RetryPolicy{BaseDelay: time.Millisecond},
	})
	s.client = inst.Client(transport.ClientOptions{
		IdempotencyKeys: true,
		Limit:           transport.LimitOptions{Enabled: true},
		Hedge:           transport.HedgeOptions{Delay: 50 * time.Millisecond},
		Retry:           transport.RetryPolicy{BaseDelay: 10 * time.Millisecond, PerTryTimeout: 250 * time.Millisecond},
	})
	return s, nil
}

// ordersService is the orders dependency:
//
//	GET  /items/N   throttled beyond 5 a second (429, Retry-After: 1), 1 in 4 answered 503
//	GET  /slow/N    every other request stalls 150 ms (a hedge wins it)
//	GET  /work/N    behind overload.Middleware with a limit of 2 and no queue (shed: 503)
//	GET  /files/N   a 64 KiB download that breaks off halfway every other time; the
//	                client resumes it with a Range request
//	POST /orders    behind idempotency.Middleware; ?stall=1 runs 400 ms, past the
//	                client's per-try timeout, so that the retry meets the run in
//	                progress (409) and then its stored answer (a replay)
//
// Its overload limiter and idempotency store are reported by gauges.
func ordersService(inst *rtotel.Instrumentation) (http.Handler, error) {
	var slow atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/", flaky(rate.NewLimiter(5, 5)))
	mux.HandleFunc("GET /slow/", func(w http.ResponseWriter, r *http.Request) {
		if slow.Add(1)%2 == 1 {
			select {
			case <-time.After(150 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /files/", breakingDownload())
	limiter := overload.NewLimiter(overload.LimiterOptions{InitialLimit: 2, MinLimit: 1, MaxLimit: 2, Queue: -1})
	if _, err := inst.ObserveLimiter("work", limiter); err != nil {
		return nil, err
	}
	store := idempotency.NewMemoryStore(0, 0)
	if _, err := inst.ObserveStore("orders", store); err != nil {
		return nil, err
	}
	shed := overload.Middleware(overload.Options{
		Limiter:       limiter,
		TimeoutHeader: timeoutHeader,
		OnShed:        inst.Shed,
	})
	mux.Handle("GET /work/", shed(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, "ok")
	})))
	keyed := idempotency.Middleware(idempotency.Options{
		Store:     &flakyStore{Store: store},
		Scope:     idempotency.OneScope,
		OnOutcome: inst.IdempotencyOutcome,
		Logger:    quiet,
	})
	mux.Handle("POST /orders", keyed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Query().Get("stall") != "" {
			time.Sleep(400 * time.Millisecond) // the run goes on when its caller leaves
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"order":"created"}`)
	})))
	return mux, nil
}

// breakingDownload serves a 64 KiB file with a strong validator and
// ranges; every other request for the whole file breaks off halfway (the
// connection is cut), and the client asks for the rest.
func breakingDownload() http.HandlerFunc {
	content := bytes.Repeat([]byte("rtchain "), 8<<10)
	modified := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("Range") == "" && n.Add(1)%2 == 1 {
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			_, _ = w.Write(content[:len(content)/2])
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler) // net/http cuts the connection
		}
		http.ServeContent(w, r, "", modified, bytes.NewReader(content))
	}
}

// flakyStore fails 1 Begin in 8: the middleware answers 503, which the
// client retries.
type flakyStore struct {
	idempotency.Store
	n atomic.Int64
}

var errStoreDown = errors.New("demo: store unavailable")

// quiet takes the idempotency middleware's logs of the store's failures.
var quiet = slog.New(slog.DiscardHandler)

func (s *flakyStore) Begin(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (idempotency.Record, bool, error) {
	if s.n.Add(1)%8 == 0 {
		return idempotency.Record{}, false, errStoreDown
	}
	return s.Store.Begin(ctx, key, r, lease)
}

// round makes one of each kind of call, 8 at a time.
func (s *instrumented) round(ctx context.Context) {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			i := s.seq.Add(1)
			s.call(ctx, http.MethodGet, fmt.Sprintf("%s/items/%d", s.orders.URL, i), "", nil)
			s.call(ctx, http.MethodGet, fmt.Sprintf("%s/slow/%d", s.orders.URL, i), "", nil)
			s.call(ctx, http.MethodGet, fmt.Sprintf("%s/stock/%d", s.inventory.URL, i), "", nil)
			s.call(ctx, http.MethodGet, fmt.Sprintf("%s/work/%d", s.orders.URL, i), "", nil)
			s.call(ctx, http.MethodGet, fmt.Sprintf("%s/files/%d", s.orders.URL, i), "", nil)
			for j := range 4 {
				s.send(ctx, s.batch, http.MethodGet, fmt.Sprintf("%s/charges/%d-%d", s.payments.URL, i, j), "", nil)
			}
			if w == 0 {
				// A caller that says it waits 1 ms (timeoutHeader): the
				// server refuses it at once, as it cannot answer in time.
				s.call(ctx, http.MethodGet, fmt.Sprintf("%s/work/%d", s.orders.URL, i),
					"", http.Header{timeoutHeader: {"1"}})
			}
			body := fmt.Sprintf(`{"item":%d}`, i)
			switch w {
			case 0:
				// A caller that waits 100 ms at most: while the host cools
				// down after a 429, its call ends on its deadline.
				short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				s.call(short, http.MethodGet, fmt.Sprintf("%s/items/%d", s.orders.URL, -i), "", nil)
				cancel()
			case 1:
				s.call(ctx, http.MethodPost, s.orders.URL+"/orders?stall=1", body, nil)
			case 2:
				// A caller that sends its order twice, with its own key:
				// the second is a replay.
				key := http.Header{"Idempotency-Key": {fmt.Sprintf("demo-%d", i)}}
				s.call(ctx, http.MethodPost, s.orders.URL+"/orders", body, key)
				s.call(ctx, http.MethodPost, s.orders.URL+"/orders", body, key)
			case 3:
				// A key sent again with another order: 422.
				key := http.Header{"Idempotency-Key": {fmt.Sprintf("reused-%d", i)}}
				s.call(ctx, http.MethodPost, s.orders.URL+"/orders", body, key)
				s.call(ctx, http.MethodPost, s.orders.URL+"/orders", `{"item":0}`, key)
			default:
				s.call(ctx, http.MethodPost, s.orders.URL+"/orders", body, nil)
			}
		})
	}
	wg.Wait()
}

// call sends one request through the client, with 3 s to complete, and
// reads its answer.
func (s *instrumented) call(ctx context.Context, method, url, body string, h http.Header) {
	s.send(ctx, s.client, method, url, body, h)
}

func (s *instrumented) send(ctx context.Context, c *http.Client, method, url, body string, h http.Header) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// drive makes rounds until ctx ends.
func (s *instrumented) drive(ctx context.Context) {
	for ctx.Err() == nil {
		s.round(ctx)
	}
}

// Close stops the embedded servers and the meter provider.
func (s *instrumented) Close() {
	s.client.CloseIdleConnections()
	s.batch.CloseIdleConnections()
	s.orders.Close()
	s.inventory.Close()
	s.payments.Close()
	_ = s.mp.Shutdown(context.Background())
}

// serve serves /metrics on ln and drives the workload until ctx ends.
func serve(ctx context.Context, ln net.Listener, out io.Writer) error {
	s, err := newInstrumented()
	if err != nil {
		ln.Close()
		return err
	}
	defer s.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(out, "Serving rtchain's metrics at http://%s/metrics; calling %s (orders), %s (inventory, down) and %s (payments, refusing) until interrupted.\n",
		ln.Addr(), s.orders.URL, s.inventory.URL, s.payments.URL)
	s.drive(ctx)
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
