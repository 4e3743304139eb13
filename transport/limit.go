package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/rtchain/rtchain/internal/adaptive"
)

// LimitOptions configures Limit. Its zero value leaves the layer out, as
// NewClient does (see Limit for why); with Enabled, the zero values of the
// other fields mean the defaults: each host starts at 20 attempts in
// flight, learns a limit between 1 and 1000, and cuts it when its latency
// passes 1.5 times the lowest it has seen.
type LimitOptions struct {
	// Enabled puts the layer in the chain: without it, Limit returns the
	// transport below as it is, and NewClientWith leaves it out.
	Enabled bool
	// Initial is a host's limit before anything was learned. 0 means 20
	// (bounded by Min and Max).
	Initial int
	// Min and Max bound each host's limit. 0 means 1 and 1000.
	Min, Max int
	// Tolerance is how many times the lowest latency seen a host's latency
	// may be before its limit is cut; it must be more than 1. 0 means 1.5.
	Tolerance float64
	// MaxHosts bounds the hosts kept in memory; past it, the least
	// recently used idle host's limit is forgotten (see DefaultMaxHosts).
	// 0 means DefaultMaxHosts.
	MaxHosts int
	// Stats, when set, is given the layer's hosts to read: their limits,
	// attempts in flight and waiting, for a gauge (rtotel reads it).
	Stats *LimitStats
}

// Limit returns a middleware that bounds the attempts in flight to each URL
// host by a limit learned from the host's latency, as Netflix's
// concurrency-limits (Vegas, Gradient2) and failsafe-go's adaptivelimiter
// do: while the time to response headers stays near the lowest seen, the
// limit grows; when it rises past o.Tolerance times it, a queue has formed
// at the server, and the limit is cut in proportion (the model is written
// beside the code, in internal/adaptive). Placed inside Retry, each attempt
// takes one slot, and gives it back when its response headers arrive (or
// its error), not when its body is closed: a body is read at the caller's
// pace, and a body never closed would hold its slot for ever.
//
// An attempt over its host's limit waits for a slot, first come first
// served, at most half the time its call has left (the rule of RateLimit's
// holds: the other half is the attempt's own), or as long as its context
// lets it when the call has no deadline. One that gets none in that time
// fails without being sent, its body closed, with a *RejectedError that
// matches ErrRejectedLocally and context.DeadlineExceeded: Retry takes it
// for a refusal, and tries again after a backoff that fits the deadline.
// A wait that the context ends returns the context's error.
//
// What the limit learns from, and why:
//
//   - a response's time to headers, for any status but those below;
//   - a 504, an attempt cut by a deadline (the call's, the client's
//     timeout, RetryPolicy.PerTryTimeout) or a transport timeout is a
//     dropped sample: work that failed for lack of time, which cuts the
//     limit by a tenth;
//   - nothing from a refusal (429, 503, 529: IsRefusal): answered at once
//     by a shedder or a quota, its latency is not the work's, and would
//     teach the limit that the server got faster when it is full; and a 429
//     may answer one resource or one caller, not the host (a throttle has a
//     scope: RateLimit follows refusals, and only on evidence that they are
//     the host's);
//   - nothing from another 5xx or transport error (refused or reset
//     connections): a failure's latency is not the work's (Breaker counts
//     failures), nor from a local rejection below (RateLimit's) or an
//     attempt whose caller cancelled it (a lost hedge).
//
// It is off unless o.Enabled, and NewClient leaves it out, for what it
// was measured to do (TestLimitMeasurements, through NewClientWith, in a
// simulation where only time counts). Against a server that sheds
// nothing, 400 calls a second of capacity, its queue growing, callers
// giving each call 500 ms: at 1.5, 3 and 10 times its capacity it serves
// 1.6, 3.2 and 4.5 times as many calls in time (924, 962, 989 of some
// 1,000 it can, against 588, 296, 220), and the work it does for callers
// who had left falls from between 412 and 7,780 requests to 7 or fewer.
// But it learns from latency alone, and takes latency that varies by the
// call for a queue: 100 callers against a host with no queue are served
// 4% less at 50 ms each, 67% less when one call in ten is a long poll of
// 1 to 5 s, and 97% less when service times spread exponentially around
// 200 ms. Turn it on for hosts whose calls take about the same time, where
// rising latency means a queue: a service without load shedding of its
// own, behind which callers would otherwise wait past their deadlines.
//
// Put it inside Retry and outside RateLimit, as NewClientWith does: an
// open circuit (Breaker, outside) then takes no slot, a rejection is
// retried, and RateLimit never counts an attempt that was not sent for a
// host's answer; an attempt held by RateLimit holds its slot meanwhile,
// which happens only to hosts that throttle.
//
// A host's limit is kept for up to o.MaxHosts hosts, least recently used
// first out, preferring hosts with nothing in flight. It is safe for
// concurrent use; an attempt that gets a slot at once allocates nothing. It
// panics on negative or inconsistent options.
func Limit(o LimitOptions) Middleware {
	ao := o.adaptive()
	if o.MaxHosts < 0 {
		panic("transport: LimitOptions: negative MaxHosts")
	}
	if _, err := ao.Check(); err != nil {
		panic("transport: LimitOptions: " + err.Error())
	}
	maxHosts := cmp.Or(o.MaxHosts, DefaultMaxHosts)
	return func(next http.RoundTripper) http.RoundTripper {
		next = wrapped("Limit", next)
		if !o.Enabled {
			return next
		}
		t := &limitTransport{
			next:  next,
			hosts: newHostTable(maxHosts, func(s *slot[limitHost]) bool { return !s.ready() || s.v.idle() }),
			init:  func(h *limitHost) { h.lim = adaptive.New(ao) },
		}
		if o.Stats != nil {
			o.Stats.add(t.hosts)
		}
		return t
	}
}

// adaptive returns o's settings for the adaptive limit, and panics on
// negative values, which adaptive would name in its own words.
func (o LimitOptions) adaptive() adaptive.Options {
	if o.Initial < 0 || o.Min < 0 || o.Max < 0 || o.Tolerance < 0 {
		panic("transport: LimitOptions: negative Initial, Min, Max or Tolerance")
	}
	return adaptive.Options{InitialLimit: o.Initial, MinLimit: o.Min, MaxLimit: o.Max, Tolerance: o.Tolerance}
}

type limitTransport struct {
	next  http.RoundTripper
	hosts *hostTable[slot[limitHost]]
	init  func(*limitHost)
}

var _ http.RoundTripper = (*limitTransport)(nil)

// limitHost is one host's limit, and the attempts waiting for a slot of
// it, oldest first (adaptive.Limit's queue).
type limitHost struct{ lim *adaptive.Limit }

func (h *limitHost) idle() bool { return h.lim.InFlight() == 0 && h.lim.Waiting() == 0 }

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := t.hosts.get(hostOf(req)).get(t.init)
	if err := h.acquire(req); err != nil {
		closeRequestBody(req)
		return nil, err
	}
	start := time.Now()
	held := true
	defer func() {
		if held { // the transport below panicked: its latency means nothing
			h.discard()
		}
	}()
	resp, err := t.next.RoundTrip(req)
	held = false
	switch sample(req.Context(), resp, err) {
	case sampleLatency:
		h.release(time.Since(start), false)
	case sampleDropped:
		h.release(0, true)
	default:
		h.discard()
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t *limitTransport) CloseIdleConnections() { closeIdle(t.next) }

// What an attempt teaches its host's limit.
const (
	sampleNone    = iota // nothing: Discard
	sampleLatency        // its time to response headers
	sampleDropped        // it failed for lack of time
)

// sample says what an attempt that ended with resp and err, under ctx,
// teaches its host's limit (see Limit).
func sample(ctx context.Context, resp *http.Response, err error) int {
	if err == nil {
		if resp == nil { // against the contract: Retry makes it an error
			return sampleNone
		}
		switch code := resp.StatusCode; {
		case code == http.StatusGatewayTimeout:
			return sampleDropped
		case IsRefusal(code), code >= 500:
			return sampleNone
		}
		return sampleLatency
	}
	if errors.Is(err, ErrRejectedLocally) {
		return sampleNone // not sent
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return sampleDropped // the call's deadline, or the client's timeout
		}
		return sampleNone // the caller left for reasons of its own
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return sampleDropped // the per-try timeout, or the transport's
	}
	return sampleNone
}

// acquire takes a slot of h for req, waiting for one as Limit says.
func (h *limitHost) acquire(req *http.Request) error {
	ctx := req.Context()
	until := holdLimit(ctx, time.Now())
	switch err := h.lim.Wait(ctx, until, math.MaxInt); {
	case errors.Is(err, adaptive.ErrTooLate):
		return h.rejected(req)
	case err != nil:
		return fmt.Errorf("transport: limit: %w", err)
	}
	return nil
}

func (h *limitHost) rejected(req *http.Request) error {
	return &RejectedError{
		Host:     hostOf(req),
		Kind:     RejectLimit,
		Reason:   "host at its concurrency limit of " + strconv.Itoa(h.lim.Limit()),
		Deadline: true,
	}
}

// release gives back a slot with its sample; the Limit hands the slots
// free to the attempts waiting.
func (h *limitHost) release(rtt time.Duration, dropped bool) { h.lim.Release(rtt, dropped) }

// discard gives back a slot and teaches the limit nothing.
func (h *limitHost) discard() { h.lim.Discard() }

// LimitStats reads what Limit layers learned, for a gauge: give the same
// one to the LimitOptions.Stats of each layer whose hosts it should show
// (rtotel's Instrumentation keeps one for the clients it builds). Its zero
// value is ready to use; it is safe for concurrent use.
//
// It holds its layers weakly: a client that is dropped is forgotten, not
// kept alive by its metrics. Reading costs nothing on the calls' path.
type LimitStats struct {
	mu     sync.Mutex
	tables []weak.Pointer[hostTable[slot[limitHost]]]
}

// add makes t one of the tables s reads, forgetting the dropped ones.
func (s *LimitStats) add(t *hostTable[slot[limitHost]]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables = append(s.live(), weak.Make(t))
}

// live returns s.tables without the dropped ones, in place; s.mu is held.
func (s *LimitStats) live() []weak.Pointer[hostTable[slot[limitHost]]] {
	kept := s.tables[:0]
	for _, w := range s.tables {
		if w.Value() != nil {
			kept = append(kept, w)
		}
	}
	clear(s.tables[len(kept):])
	return kept
}

// Each calls f once for each host that a layer of s keeps a limit for: its
// current limit, the attempts in flight to it and those waiting for a
// slot. A host kept by several layers (two clients calling it) is reported
// once, their figures summed: what this process as a whole allows it. The
// hosts are those of the moment: the layers go on while f runs.
func (s *LimitStats) Each(f func(host string, limit, inFlight, waiting int)) {
	s.mu.Lock()
	s.tables = s.live()
	tables := make([]*hostTable[slot[limitHost]], 0, len(s.tables))
	for _, w := range s.tables {
		if t := w.Value(); t != nil {
			tables = append(tables, t)
		}
	}
	s.mu.Unlock()
	type figures struct{ limit, inFlight, waiting int }
	var order []string
	sums := map[string]*figures{}
	for _, t := range tables {
		t.each(func(host string, sl *slot[limitHost]) {
			if !sl.ready() {
				return
			}
			l := sl.v.lim
			s := sums[host]
			if s == nil {
				s = &figures{}
				sums[host] = s
				order = append(order, host)
			}
			s.limit += l.Limit()
			s.inFlight += l.InFlight()
			s.waiting += l.Waiting()
		})
	}
	for _, h := range order {
		s := sums[h]
		f(h, s.limit, s.inFlight, s.waiting)
	}
}
