package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rtchain/rtchain/transport"
)

// call is one request of the workload.
type call struct {
	method string
	url    string
	body   []byte
	order  string // for POSTs to the demo server: the order they charge
}

// outcome is what one call ended with.
type outcome struct {
	call    call
	status  int
	err     error
	latency time.Duration
}

// stats is the summary of a workload through one client.
type stats struct {
	Name             string         `json:"name"`
	Calls            int            `json:"calls"`
	Succeeded        int            `json:"succeeded"`
	Failed           int            `json:"failed"`
	Attempts         int64          `json:"attempts_sent"`
	Retries          map[string]int `json:"retries_by_reason"`
	WaitedMS         float64        `json:"waited_ms"`
	RetryAfterMS     float64        `json:"retry_after_waited_ms"`
	Conns            int64          `json:"tcp_connections"`
	DuplicateEffects *int           `json:"duplicate_post_effects,omitempty"`
	LostAnswers      *int           `json:"posts_charged_but_failed,omitempty"`
	Charges          *int           `json:"ledger_charges,omitempty"` // rows in the SQLite ledger
	P50MS            float64        `json:"p50_ms"`
	P99MS            float64        `json:"p99_ms"`
	FirstError       string         `json:"first_error,omitempty"`

	mu         sync.Mutex
	waited     time.Duration
	retryAfter time.Duration
}

func (s *stats) onRetry(e transport.RetryEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Retries[retryReason(e.Attempt)]++
	s.waited += e.Wait
	if e.FromRetryAfter {
		s.retryAfter += e.Wait
	}
}

// retryReason names why an attempt failed, in a few words.
func retryReason(a transport.Attempt) string {
	switch {
	case a.Response != nil:
		return fmt.Sprint(a.Response.StatusCode)
	case errors.Is(a.Err, transport.ErrPerTryTimeout):
		return "per-try timeout"
	case errors.Is(a.Err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(a.Err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(a.Err, io.EOF), errors.Is(a.Err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "other error"
}

// countingBase is a pooled transport that counts the attempts sent through
// it and the TCP connections it opens.
type countingBase struct {
	*http.Transport
	attempts atomic.Int64
	dials    atomic.Int64
}

func newCountingBase(idle int) *countingBase {
	// rtchain's pool: cleanhttp's keeps GOMAXPROCS+1 idle connections per
	// host, fewer than the calls in flight, which would redial.
	b := &countingBase{Transport: transport.DefaultPooledTransport()}
	b.MaxIdleConnsPerHost = max(b.MaxIdleConnsPerHost, idle)
	dial := b.DialContext
	b.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil { // a refused dial opened nothing
			b.dials.Add(1)
		}
		return conn, err
	}
	return b
}

func (b *countingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	b.attempts.Add(1)
	return b.Transport.RoundTrip(req)
}

// runWorkload sends calls through client with c workers, each call bounded
// by timeout, and reports progress: when a call ends, and every tick while
// calls are in flight. It stops early, cleanly, if ctx ends.
func runWorkload(ctx context.Context, client *http.Client, calls []call, c int, timeout time.Duration,
	progress func(done, failed, inFlight int), tick time.Duration) []outcome {
	out := make([]outcome, 0, len(calls))
	var mu sync.Mutex
	failed, inFlight := 0, 0
	work := make(chan call)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for cl := range work {
				mu.Lock()
				inFlight++
				mu.Unlock()
				o := send(ctx, client, cl, timeout)
				mu.Lock()
				inFlight--
				out = append(out, o)
				if !o.ok() {
					failed++
				}
				progress(len(out), failed, inFlight) // under the lock: one writer, lines in order
				mu.Unlock()
			}
		})
	}
	stop := make(chan struct{})
	var ticker sync.WaitGroup
	if tick > 0 {
		ticker.Go(func() {
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					mu.Lock()
					if len(out) < len(calls) {
						progress(len(out), failed, inFlight)
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for _, cl := range calls {
		select {
		case work <- cl:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(stop)
	ticker.Wait()
	return out
}

func (o outcome) ok() bool { return o.err == nil && o.status >= 200 && o.status < 300 }

func send(ctx context.Context, client *http.Client, cl call, timeout time.Duration) outcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url, body)
	if err != nil {
		return outcome{call: cl, err: err}
	}
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{call: cl, err: err, latency: time.Since(start)}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return outcome{call: cl, status: resp.StatusCode, err: err, latency: time.Since(start)}
}

// summarize fills s from the outcomes and the base's counters; scrub
// removes secrets from what it quotes.
func summarize(s *stats, outs []outcome, base *countingBase, scrub func(string) string) {
	s.Calls = len(outs)
	lat := make([]time.Duration, 0, len(outs))
	for _, o := range outs {
		lat = append(lat, o.latency)
		if o.ok() {
			s.Succeeded++
			continue
		}
		s.Failed++
		if s.FirstError == "" {
			if o.err != nil {
				s.FirstError = scrub(o.err.Error())
			} else {
				s.FirstError = scrub(fmt.Sprintf("%s %s: status %d", o.call.method, o.call.url, o.status))
			}
		}
	}
	s.Attempts = base.attempts.Load()
	s.Conns = base.dials.Load()
	s.WaitedMS, s.RetryAfterMS = ms(s.waited), ms(s.retryAfter)
	s.P50MS, s.P99MS = ms(percentile(lat, 50)), ms(percentile(lat, 99))
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, (len(d)*p+99)/100-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
