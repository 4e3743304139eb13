package redisstore_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
)

// BenchmarkTwoInstances sends POSTs from 8 clients, alternately to two
// instances of a service that share one Redis, over loopback: without the
// middleware (the floor), keyed first requests (a new key each) and replays
// (keys already stored). It reports requests a second.
//
//	cd idempotency/redisstore && go test -run '^$' -bench TwoInstances -count 6 .
func BenchmarkTwoInstances(b *testing.B) {
	srv := redistest.Start(b, "")
	store := redisstore.New(client(b, srv), "bench:")
	mw := idempotency.Middleware(idempotency.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"ch_1","status":"succeeded"}`)
	})
	pay := mw(bare)
	instances := []string{htu.NewServer(b, pay).URL, htu.NewServer(b, pay).URL}
	bareInstances := []string{htu.NewServer(b, bare).URL, htu.NewServer(b, bare).URL}
	base := cleanhttp.DefaultPooledTransport()
	base.MaxIdleConnsPerHost = 16
	b.Cleanup(base.CloseIdleConnections)
	client := &http.Client{Transport: base}

	var seq atomic.Int64
	send := func(b *testing.B, key string) {
		n := seq.Add(1)
		to := instances
		if key == "" {
			to = bareInstances
		}
		req, _ := http.NewRequest(http.MethodPost, to[n%2]+"/charges", strings.NewReader(`{"amount":1000}`))
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	for _, mode := range []string{"no middleware", "first requests", "replays"} {
		b.Run(mode, func(b *testing.B) {
			for i := range 64 { // store the replayed keys first: a concurrent first use is a 409
				send(b, fmt.Sprint("replayed-", i))
			}
			b.SetParallelism(4) // 8 clients on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					var key string
					switch mode {
					case "first requests":
						key = fmt.Sprint("k-", seq.Add(1))
					case "replays":
						key = fmt.Sprint("replayed-", i%64)
					}
					send(b, key)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
