package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-cleanhttp"

	"github.com/rtchain/rtchain/bench/figures"
)

// The overload workload of issue 32: a service that can do Slots things at
// a time, Service each, is offered a multiple of its capacity by open-loop
// callers (a new call every 1/rate s whatever the others do, each on its
// own goroutine, each with its own deadline), and then the overload ends.
// Everything runs in this process, over loopback.

// OverloadPhase is one phase of the offered load: Load × the service's
// capacity, for For.
type OverloadPhase struct {
	Load float64
	For  time.Duration
}

// OverloadWorkload says what is offered to whom. The first phase is the
// overload; the phases after it show the recovery.
type OverloadWorkload struct {
	Slots    int             // calls the handler works on at a time; the next ones wait for a slot
	Service  time.Duration   // the work of one call
	Deadline time.Duration   // each call's deadline, from when it starts
	Phases   []OverloadPhase // the offered load over time
	Bin      time.Duration   // the time series' bin (100 ms if 0)
	MaxCalls int             // a bound on the calls of one run (100,000 if 0)
}

// Capacity is what the service can serve, in calls per second.
func (w OverloadWorkload) Capacity() float64 { return float64(w.Slots) / w.Service.Seconds() }

func (w OverloadWorkload) bin() time.Duration {
	if w.Bin > 0 {
		return w.Bin
	}
	return 100 * time.Millisecond
}

// Figures is the run's description for figures.Overload (without rows).
func (w OverloadWorkload) Figures() figures.Overload {
	d := figures.Overload{Slots: w.Slots, ServiceMs: ms(w.Service), DeadlineMs: ms(w.Deadline), BinMs: ms(w.bin())}
	for _, p := range w.Phases {
		d.Phases = append(d.Phases, figures.OverloadPhase{Load: p.Load, Seconds: p.For.Seconds()})
	}
	return d
}

// DeadlineHeader carries a call's deadline (Unix nanoseconds) to the
// service, which counts the work it finishes after it as wasted.
const DeadlineHeader = "X-Overload-Deadline"

// OverloadService is the service under load: a handler with a semaphore of
// Slots inside it (the next call waits for a slot, however long), then
// Service of work (a sleep: the capacity does not depend on the cores the
// load generator leaves it), then 200.
type OverloadService struct {
	slots    chan struct{}
	work     time.Duration
	stop     chan struct{}
	stopOnce sync.Once
	seen     atomic.Int64 // requests that reached the server (before any protection)
	runs     atomic.Int64 // handler runs: work done
	late     atomic.Int64 // runs that finished after their caller had left
	dropped  atomic.Int64 // handlers still waiting for a slot when the service stopped
}

// NewOverloadService returns a service of slots slots, work each.
func NewOverloadService(slots int, work time.Duration) *OverloadService {
	return &OverloadService{slots: make(chan struct{}, slots), work: work, stop: make(chan struct{})}
}

func (s *OverloadService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case s.slots <- struct{}{}:
	case <-s.stop:
		s.dropped.Add(1)
		http.Error(w, "stopped", http.StatusServiceUnavailable)
		return
	}
	time.Sleep(s.work)
	<-s.slots
	s.runs.Add(1)
	if callerLeft(r) {
		s.late.Add(1)
	}
	_, _ = io.WriteString(w, "ok")
}

// callerLeft reports whether the caller of r has gone: its request's
// context has ended, or the deadline it sent has passed.
func callerLeft(r *http.Request) bool {
	if r.Context().Err() != nil {
		return true
	}
	n, err := strconv.ParseInt(r.Header.Get(DeadlineHeader), 10, 64)
	return err == nil && time.Now().After(time.Unix(0, n))
}

// Stop makes the handlers that wait for a slot leave without working, and
// every later one: a run's end, so that the server can close at once.
func (s *OverloadService) Stop() { s.stopOnce.Do(func() { close(s.stop) }) }

// counted counts every request the server receives, then hands it on.
func (s *OverloadService) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.seen.Add(1)
		next.ServeHTTP(w, r)
	})
}

// Shed is a plain load shedder: at most limit requests reach next at a
// time, and the rest are answered at once by refuse.
func Shed(limit int, refuse http.HandlerFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		var inFlight atomic.Int64
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if inFlight.Add(1) > int64(limit) {
				inFlight.Add(-1)
				refuse(w, r)
				return
			}
			defer inFlight.Add(-1)
			next.ServeHTTP(w, r)
		})
	}
}

// Refuse answers code with the given header fields (name, value, …) and a
// short body.
func Refuse(code int, fields ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(fields); i += 2 {
			w.Header().Set(fields[i], fields[i+1])
		}
		http.Error(w, "overloaded", code)
	}
}

// overloadCall is one call of a run.
type overloadCall struct {
	phase      int
	due        time.Duration // when it was due, since the run's start
	start, end time.Duration // when it started and ended, since the run's start
	code       int           // the status, 0 for an error
	err        error
	served     bool         // a 2xx, body read, before the deadline
	early      bool         // not served, and ended before the deadline
	sent       atomic.Int32 // requests that left the client for it
}

type callKey struct{}

// sentCounter is a base that counts the requests of each call (found in
// the request's context) that it sends.
type sentCounter struct{ next *http.Transport }

func (s sentCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if c, ok := req.Context().Value(callKey{}).(*overloadCall); ok {
		c.sent.Add(1)
	}
	return s.next.RoundTrip(req)
}

func (s sentCounter) CloseIdleConnections() { s.next.CloseIdleConnections() }

// newOverloadBase is the base under every client: go-cleanhttp's pooled
// transport, with room in the pool for every connection the run opens.
func newOverloadBase() sentCounter {
	t := cleanhttp.DefaultPooledTransport()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 0, 4096
	return sentCounter{next: t}
}

// Measure runs w once against a fresh loopback server of protect (nil:
// none) around the service, with the client newClient makes over a fresh
// base, and returns the row (without its names). Everything it started is
// closed when it returns.
func (w OverloadWorkload) Measure(protect func(http.Handler) http.Handler, newClient func(base http.RoundTripper) *http.Client) (figures.OverloadRow, error) {
	if w.Slots <= 0 || w.Service <= 0 || w.Deadline <= 0 || len(w.Phases) == 0 {
		return figures.OverloadRow{}, errors.New("overload: a workload needs slots, a service time, a deadline and phases")
	}
	total, maxCalls := 0, w.MaxCalls
	if maxCalls <= 0 {
		maxCalls = 100_000
	}
	for _, p := range w.Phases {
		total += int(math.Round(p.Load * w.Capacity() * p.For.Seconds()))
	}
	if total > maxCalls {
		return figures.OverloadRow{}, fmt.Errorf("overload: %d calls, more than the bound of %d", total, maxCalls)
	}
	svc := NewOverloadService(w.Slots, w.Service)
	var h http.Handler = svc
	if protect != nil {
		h = protect(h)
	}
	srv := httptest.NewServer(svc.counted(h))
	base := newOverloadBase()
	client := newClient(base)
	calls, err := w.offer(srv.URL, client, total)
	svc.Stop()
	srv.Close()
	client.CloseIdleConnections()
	base.CloseIdleConnections()
	if err != nil {
		return figures.OverloadRow{}, err
	}
	return w.summarize(calls, svc), nil
}

// offer makes the calls of every phase, each when it is due, and waits for
// them all.
func (w OverloadWorkload) offer(url string, client *http.Client, total int) ([]*overloadCall, error) {
	calls := make([]*overloadCall, 0, total)
	var wg sync.WaitGroup
	start := time.Now()
	var at time.Duration
	for i, p := range w.Phases {
		n := int(math.Round(p.Load * w.Capacity() * p.For.Seconds()))
		for k := range n {
			c := &overloadCall{phase: i, due: at + time.Duration(float64(k)*float64(p.For)/float64(n))}
			if d := c.due - time.Since(start); d > 0 {
				time.Sleep(d)
			}
			calls = append(calls, c)
			wg.Go(func() { w.call(c, start, url, client) })
		}
		at += p.For
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return calls, nil
	case <-time.After(w.Deadline + 10*time.Second):
		return nil, fmt.Errorf("overload: calls still running %v after their deadline", 10*time.Second)
	}
}

// call makes one call, and notes how it ended.
func (w OverloadWorkload) call(c *overloadCall, start time.Time, url string, client *http.Client) {
	now := time.Now()
	c.start = now.Sub(start)
	deadline := now.Add(w.Deadline)
	ctx, cancel := context.WithDeadline(context.WithValue(context.Background(), callKey{}, c), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		c.err = err
		return
	}
	req.Header.Set(DeadlineHeader, strconv.FormatInt(deadline.UnixNano(), 10))
	resp, err := client.Do(req)
	if err == nil {
		c.code = resp.StatusCode
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
	end := time.Now()
	c.end, c.err = end.Sub(start), err
	c.served = err == nil && c.code/100 == 2 && !end.After(deadline)
	c.early = !c.served && end.Before(deadline)
}

// summarize makes the row of a run.
func (w OverloadWorkload) summarize(calls []*overloadCall, svc *OverloadService) figures.OverloadRow {
	row := figures.OverloadRow{Load: w.Phases[0].Load, Outcomes: map[string]int{}}
	bin := w.bin()
	var runFor time.Duration
	for _, p := range w.Phases {
		runFor += p.For
	}
	bins := int((runFor + bin - 1) / bin)
	endBins := int((runFor + w.Deadline + bin - 1) / bin)
	row.Started, row.ServedByStart, row.ServedByEnd = make([]int, bins), make([]int, bins), make([]int, endBins+1)
	var latencies, lags []float64
	for _, c := range calls {
		b := min(int(c.start/bin), bins-1)
		row.Started[b]++
		lags = append(lags, ms(c.start-c.due))
		row.Outcomes[outcome(c)]++
		if c.served {
			row.ServedByStart[b]++
			row.ServedByEnd[min(int(c.end/bin), endBins)]++
		}
		if c.early {
			row.FailedEarly++
			if c.sent.Load() == 0 {
				row.NotSent++
			}
		}
		if c.phase == 0 {
			row.Offered++
			if c.served {
				row.Served++
				latencies = append(latencies, ms(c.end-c.start))
			}
		}
	}
	row.ServedPct = 100 * float64(row.Served) / (w.Capacity() * w.Phases[0].For.Seconds())
	row.P99Ms = nearestRank(latencies, 0.99)
	row.LagP99Ms = nearestRank(lags, 0.99)
	row.Runs = int(svc.runs.Load())
	if row.Runs > 0 {
		row.LatePct = 100 * float64(svc.late.Load()) / float64(row.Runs)
	}
	row.LeftQueued = int(svc.dropped.Load())
	if len(calls) > 0 {
		row.RequestsPerCall = float64(svc.seen.Load()) / float64(len(calls))
	}
	row.RecoveryMs = recovery(row.Started, row.ServedByStart, int(w.Phases[0].For/bin), bin)
	return row
}

// recovery is the time from bin first (the overload's end) to the first
// bin from which every bin's calls were served in time, within 1 call or
// 5% of them; -1 if the last bin was not.
func recovery(started, served []int, first int, bin time.Duration) float64 {
	full := func(b int) bool {
		tol := max(1, int(math.Ceil(0.05*float64(started[b]))))
		return served[b] >= started[b]-tol
	}
	from := -1
	for b := len(started) - 1; b >= first && full(b); b-- {
		from = b
	}
	if from < 0 {
		return -1
	}
	return ms(time.Duration(from-first) * bin)
}

// outcome is how a call ended, in a few words: its status, and whether it
// was in time; or its error's kind, and whether it came before the
// deadline.
func outcome(c *overloadCall) string {
	switch {
	case c.served:
		return strconv.Itoa(c.code) + " in time"
	case c.err == nil && !c.early:
		return strconv.Itoa(c.code) + " late"
	case c.err == nil:
		return strconv.Itoa(c.code)
	}
	err := c.err
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err
	}
	when := "at the deadline"
	if c.early {
		when = "before the deadline"
		if c.sent.Load() == 0 {
			when += ", nothing sent"
		}
	}
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "deadline exceeded"
	} else if errors.Is(err, context.Canceled) {
		msg = "canceled"
	}
	msg = digits.ReplaceAllString(loopbackAddr.ReplaceAllString(msg, "the server"), "N")
	if len(msg) > 80 {
		msg = msg[:80] + "…"
	}
	return "error " + when + ": " + msg
}

// loopbackAddr is the server's address in an error message, and
// digits are the numbers in one, which vary from call to call.
var (
	loopbackAddr = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	digits       = regexp.MustCompile(`\d+`)
)

// nearestRank is the q quantile of vs (nearest rank); 0 for none.
func nearestRank(vs []float64, q float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	return s[max(0, int(math.Ceil(q*float64(len(s))))-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
