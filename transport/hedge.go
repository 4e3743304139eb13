package transport

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rtchain/rtchain/bodyreplay"
)

// Hedging defaults, for the zero fields of a HedgeOptions that sets a
// Delay, as HedgeOptions says them.
const (
	defaultMaxHedges      = 1
	defaultHedgeBudget    = 0.1
	defaultHedgeBodyLimit = 64 << 10 // 64 KiB
	// hedgeSamples is how many latencies a host's percentile is taken from,
	// and minHedgeSamples how many it needs before it replaces Delay.
	hedgeSamples    = 256
	minHedgeSamples = 20
)

// HedgeOptions configures Hedge. Hedging is off unless Delay is set.
type HedgeOptions struct {
	// Delay is how long an attempt may go without response headers before
	// another is sent; with Percentile, the delay until the host has
	// enough history, and the longest it waits after (a host whose
	// percentile falls in its slow mode would be hedged too late to help).
	// 0 turns hedging off.
	Delay time.Duration
	// Percentile, when in (0, 1), makes the delay the host's observed
	// time to response headers at that percentile (0.95: hedge the slowest
	// 5%), learned from its last 256 calls.
	Percentile float64
	// MaxHedges is how many attempts may be sent beside the first. 0 means
	// 1.
	MaxHedges int
	// Budget is the share of a host's calls that may be hedged (a bank of
	// 10 hedges at most, for slow calls that come in bursts; no
	// floor), so that a host slow for everyone is not doubled in load.
	// 0 means 0.1.
	Budget float64
	// Body says how much of a body that can be read only once (no
	// GetBody, not a regular file) is kept so that every attempt, hedges
	// started mid-upload included, reads the whole of it from one record:
	// Body.Limit bytes in memory (0 means 64 KiB; negative, none), then Body.SpillLimit more in
	// a temporary file in Body.SpillDir (0 keeps nothing on disk, unlike
	// RetryPolicy.Body's: a large body is seldom worth sending twice at
	// once). A body of known length past both together is not hedged; one
	// of unknown length that outgrows them goes on in the attempt that
	// reads on, and no hedge starts after that (a hedge still reading the
	// record then gives way).
	Body bodyreplay.Options
	// Hosts, when it holds several hosts (host:port), sends each hedge to
	// the next one after the host of the attempt before it, as Retry's
	// failover does (distinct backends, as gRFC A6 asks). A call addressed
	// to a host not in Hosts is hedged on its own host only: its
	// credentials were given for that host.
	Hosts []string
	// OnHedge, when set, is told of each hedge as it is sent, and of the
	// attempt that won.
	OnHedge func(HedgeEvent)
}

// Hedge returns a middleware that cuts the tail of a host's latency as
// "The Tail at Scale" does: after o.Delay (or the host's percentile)
// without response headers, it sends the same request again, up to
// o.MaxHedges times, and returns the first response that is not
// retryable (IsRetryableStatus), or else the last outcome. The other
// attempts are cancelled and their bodies closed.
//
// Only calls that may be sent twice are hedged: an idempotent method
// (IsIdempotent), a request that carries an Idempotency-Key, or a call
// marked WithRepeatable; never a call marked WithoutHedge. Every attempt
// gets the whole body, also when a hedge starts while the first is still
// uploading: a copy from GetBody (as http.NewRequest sets for in-memory
// bodies), a handle of its own on a regular file, or a reader of one record
// of any other body (bodyreplay.Shared), up to o.Body.Limit (64 KiB) in
// memory and o.Body.SpillLimit (none) on disk. Others pass through.
// The caller's request is never modified, and its body is closed once.
//
// Put it above Retry (NewClientWith does, with ClientOptions.Hedge): each
// attempt is then retried as any call is, and takes from the same retry
// budget, circuit and rate limit.
func Hedge(o HedgeOptions) Middleware {
	if o.Delay < 0 || o.MaxHedges < 0 || o.Budget < 0 || o.Percentile < 0 || o.Percentile >= 1 {
		panic("transport: HedgeOptions: negative field, or Percentile not in [0, 1)")
	}
	return func(next http.RoundTripper) http.RoundTripper {
		if o.Delay == 0 {
			return next
		}
		if o.MaxHedges == 0 {
			o.MaxHedges = defaultMaxHedges
		}
		if o.Budget == 0 {
			o.Budget = defaultHedgeBudget
		}
		if o.Body.Limit == 0 {
			o.Body.Limit = defaultHedgeBodyLimit
		}
		t := &hedgeTransport{next: wrapped("hedge", next), o: o,
			budgets: newBudgets(RetryBudget{Ratio: o.Budget, MinPerSecond: -1, MaxBanked: hedgeBank, MaxHosts: DefaultMaxHosts}, hostView[hostBudget]{})}
		t.lat = newHostTable[latencies](DefaultMaxHosts, nil)
		return t
	}
}

// hedgeBank is how many unspent hedges a host's budget keeps: 2 left the
// slow calls of a burst unhedged (a p99 of 300 ms in TestHedgeFigures, one
// run in three, with 4.3% of calls hedged for 5% slow).
const hedgeBank = 10

type hedgeTransport struct {
	next    http.RoundTripper
	o       HedgeOptions
	budgets *budgets
	lat     *hostTable[latencies]
}

func (t *hedgeTransport) CloseIdleConnections() { closeIdle(t.next) }

// hedgeable reports whether req may be sent twice at once (an idempotent
// or keyed call) with the whole body each time, and returns how its
// attempts get their bodies (nil for a call without a body): see
// bodyreplay.NewShared.
func (t *hedgeTransport) hedgeable(req *http.Request) (bodies *bodyreplay.Shared, ok bool) {
	if req.URL == nil || !mayHedge(req) {
		return nil, false
	}
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true
	}
	return bodyreplay.NewShared(req, t.o.Body)
}

type hedgeResult struct {
	n    int
	host string
	resp *http.Response
	err  error
	took time.Duration
}

func (t *hedgeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	bodies, ok := t.hedgeable(req)
	if !ok {
		return t.next.RoundTrip(req)
	}
	var body io.ReadCloser // the first attempt's, when not req.Body
	if bodies != nil {
		defer bodies.Close()    // no attempt is sent after the call returns
		body, _ = bodies.Next() // the first reader never fails
	}
	host := req.URL.Host
	t.budgets.depositCall(t.budgets.hosts.get(host))
	c := &hedgeCall{t: t, orig: req, start: time.Now(), results: make(chan hedgeResult, 1+t.o.MaxHedges)}
	if p := traceFrom(req.Context()); p != nil {
		c.tr = &hedgeTrace{parent: p, ends: map[int]CallEndEvent{}}
	}
	c.send(1, host, req, body)
	timer := time.NewTimer(t.delay(host))
	defer timer.Stop()
	inFlight, sent, lastHost := 1, 1, host
	ended := 0 // the attempts of the attempts that ended, their retries included
	var last *hedgeResult
	for {
		select {
		case r := <-c.results:
			inFlight--
			ended += attemptsOf(r.resp, r.err)
			if r.err == nil {
				t.lat.get(r.host).add(r.took)
			}
			if r.err == nil && !IsRetryableStatus(r.resp.StatusCode) || inFlight == 0 {
				// A response that is not retryable wins; when every attempt
				// has ended, the last outcome is the call's (Retry below
				// has retried each already).
				c.tr.end(r.n, sent)
				return c.win(r, last, sent, inFlight, ended+inFlight)
			}
			if last != nil {
				c.drop(last)
			}
			last = &r
		case <-timer.C:
			if sent > t.o.MaxHedges {
				continue // no more hedges: wait for what is in flight
			}
			var body io.ReadCloser
			var err error
			if bodies != nil {
				body, err = bodies.Next()
			}
			if err != nil || !t.budgets.withdrawRetry(t.budgets.hosts.get(host)) {
				if body != nil {
					_ = body.Close()
				}
				continue // no whole copy of the body, or no budget: no hedge
			}
			sent++
			next := t.hedgeRequest(req, lastHost)
			lastHost = next.URL.Host
			c.emit(HedgeEvent{Request: req, Attempt: sent, Host: lastHost, After: time.Since(c.start)})
			c.send(sent, lastHost, next, body)
			inFlight++
			timer.Reset(t.delay(host))
		}
	}
}

// hedgeCall is one hedged call: its attempts' results, and how to cancel
// each.
type hedgeCall struct {
	t       *hedgeTransport
	orig    *http.Request // the caller's
	start   time.Time
	tr      *hedgeTrace // nil when the call carries no Trace
	results chan hedgeResult
	cancels []context.CancelFunc // by attempt, from 0
}

// send starts attempt n, r, to host, with body (when not nil) instead of
// r's own.
func (c *hedgeCall) send(n int, host string, r *http.Request, body io.ReadCloser) {
	actx, cancel := context.WithCancel(r.Context())
	c.cancels = append(c.cancels, cancel)
	if c.tr != nil {
		actx = context.WithValue(actx, traceKey{}, c.tr.forAttempt(n))
	}
	r = r.WithContext(actx)
	if body != nil {
		r.Body = body
		bodyreplay.Bind(body, actx)
	}
	go func() {
		sent := time.Now()
		resp, err := c.t.next.RoundTrip(r)
		c.results <- hedgeResult{n: n, host: host, resp: resp, err: err, took: time.Since(sent)}
	}()
}

// drop cancels an attempt that lost and closes its response.
func (c *hedgeCall) drop(r *hedgeResult) {
	c.cancels[r.n-1]()
	discard(r.resp)
}

// emit tells the call's Trace and OnHedge of e.
func (c *hedgeCall) emit(e HedgeEvent) {
	c.tr.trace().hedge(e)
	if c.t.o.OnHedge != nil {
		c.t.o.OnHedge(e)
	}
}

// win returns r, the call's outcome, and has the other attempts cancelled
// and their responses closed in the background. attempts is how many the
// call sent, counted as hedgeTrace.end counts them.
func (c *hedgeCall) win(r hedgeResult, last *hedgeResult, sent, inFlight, attempts int) (*http.Response, error) {
	if last != nil && last.n != r.n {
		c.drop(last)
	}
	mine := c.cancels[r.n-1]
	for i, cancel := range c.cancels {
		if i != r.n-1 {
			cancel()
		}
	}
	if inFlight > 0 {
		go func() {
			for range inFlight {
				discard((<-c.results).resp)
			}
		}()
	}
	if sent > 1 {
		c.emit(HedgeEvent{Request: c.orig, Attempt: r.n, Host: r.host, After: time.Since(c.start), Won: true})
	}
	if r.err != nil {
		mine()
		return nil, r.err
	}
	if sent > 1 {
		setAttempts(r.resp, c.orig, attempts)
	}
	// The winner's context lives until its body is closed.
	r.resp.Body = &cancelOnClose{ReadCloser: r.resp.Body, cancel: mine}
	return r.resp, nil
}

// hedgeRequest is a copy of req for another attempt, to the next host of
// o.Hosts after the last attempt's, when there are several.
func (t *hedgeTransport) hedgeRequest(req *http.Request, lastHost string) *http.Request {
	r := req.Clone(req.Context())
	if i := slices.IndexFunc(t.o.Hosts, func(h string) bool { return strings.EqualFold(h, lastHost) }); len(t.o.Hosts) > 1 && i >= 0 {
		// Only a call addressed to one of Hosts goes to another: a
		// credential belongs to the host it was given for.
		next := t.o.Hosts[(i+1)%len(t.o.Hosts)]
		u := *req.URL
		u.Host = next
		r.URL = &u
		r.Host = ""
	}
	return r
}

// delay is how long to wait before the next hedge to host.
func (t *hedgeTransport) delay(host string) time.Duration {
	if t.o.Percentile > 0 {
		if d, ok := t.lat.get(host).percentile(t.o.Percentile); ok {
			return min(d, t.o.Delay)
		}
	}
	return t.o.Delay
}

// discard closes the response of an attempt that lost (and was
// cancelled): over HTTP/2 its stream is reset and the connection kept.
func discard(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.cancel)
	return err
}

// latencies is a host's last hedgeSamples times to response headers, and
// the percentile last taken of them (taken again every 16 samples).
type latencies struct {
	mu      sync.Mutex
	ring    [hedgeSamples]time.Duration
	n       int // samples seen
	cached  time.Duration
	cachedP float64
	cachedN int
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.ring[l.n%hedgeSamples] = d
	l.n++
	l.mu.Unlock()
}

func (l *latencies) percentile(p float64) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n < minHedgeSamples {
		return 0, false
	}
	if l.cachedP == p && l.n-l.cachedN < 16 {
		return l.cached, true
	}
	k := min(l.n, hedgeSamples)
	s := slices.Clone(l.ring[:k])
	slices.Sort(s)
	l.cached, l.cachedP, l.cachedN = s[min(int(p*float64(k)), k-1)], p, l.n
	return l.cached, true
}
