package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/transport"
)

// embeddedBudget is the retry budget's ratio against the embedded server.
const embeddedBudget = 0.5

// newChain is rtchain's default chain as the flags configure it.
func newChain(cfg *config, base http.RoundTripper, s *stats, stderr io.Writer) *http.Client {
	retries := cfg.retries
	if retries == 0 {
		retries = -1 // RetryPolicy's 0 means the default
	}
	o := transport.ClientOptions{
		Base: base,
		// The embedded server honours Idempotency-Key; a real endpoint is
		// given keys only when -keys says it honours them too.
		IdempotencyKeys: cfg.url == "" || cfg.keys,
		Retry:           transport.RetryPolicy{MaxRetries: retries, PerTryTimeout: cfg.perTryTimeout, OnRetry: s.onRetry},
		Timeout:         -1, // each call has its own context deadline (-timeout)
	}
	if cfg.url == "" {
		// The embedded server faults 1 call in 5: more than the default
		// budget (10% of calls, 10 a second) is sized for, which is an
		// outage's rate. A budget of half the calls lets every call get
		// its retries, so that a failure means the chain misbehaved.
		o.Retry.Budget = transport.RetryBudget{Ratio: embeddedBudget}
	}
	if cfg.rate > 0 {
		o.RateLimit = transport.RateLimitOptions{Limiter: rate.NewLimiter(rate.Limit(cfg.rate), 1)}
	}
	if cfg.verbose {
		o.Log.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if len(cfg.headers) > 0 {
		o.Headers.Static = http.Header{}
		for _, h := range cfg.headers {
			name, value, _ := strings.Cut(h, ":")
			o.Headers.Static.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	return transport.NewClientWith(o)
}

// retriesAllowed says what -retries lets this run do.
func retriesAllowed(n int) string {
	switch {
	case n <= 0:
		return "this run allows none (-retries " + strconv.Itoa(n) + ")"
	case n == 1:
		return "this run allows 1 (-retries 1)"
	default:
		return "this run allows " + strconv.Itoa(n)
	}
}

func newStats(name string) *stats { return &stats{Name: name, Retries: map[string]int{}} }

// runEmbedded sends the workload through the chain and through a bare
// client, each against a fresh flaky server, and compares them.
func runEmbedded(ctx context.Context, cfg *config, stdout, stderr io.Writer, tty bool) int {
	if !cfg.json {
		fmt.Fprintf(stdout, "%d calls (1 in 5 a POST /pay), %d at a time, against a flaky server on loopback (-seed %d):\n"+
			"GETs meet 503s, resets, 2s stalls and 429 Retry-After; some payments are made but their answer lost.\n"+
			"A call's first attempts fail 1 time in 5, at most 3 in a row, so 3 retries always suffice; %s.\n"+
			"The chain is NewClient's, with Idempotency-Keys on, a %v per-try timeout and a retry budget of %.0f%% of calls.\n\n",
			cfg.n, cfg.c, cfg.seed, retriesAllowed(cfg.retries), cfg.perTryTimeout, embeddedBudget*100)
	}
	pay, err := startPayments(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	defer pay.close()
	chain := newStats("rtchain")
	err = runFlaky(ctx, cfg, chain, pay, stderr, tty, func(base http.RoundTripper) *http.Client {
		return newChain(cfg, base, chain, stderr)
	})
	bare := newStats("bare client")
	if err == nil {
		err = runFlaky(ctx, cfg, bare, pay, stderr, tty, func(base http.RoundTripper) *http.Client {
			return &http.Client{Transport: base}
		})
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	all := []*stats{chain, bare}
	if cfg.json {
		if err := printJSON(stdout, cfg.info(""), all); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 1
		}
	} else {
		printTable(stdout, all)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "demo: interrupted")
		return 1
	}
	if chain.Failed > 0 || *chain.DuplicateEffects > 0 {
		fmt.Fprintln(stderr, "demo: the chain did not behave: failed calls or duplicate payments")
		return 1
	}
	return 0
}

// runFlaky sends the workload to a fresh flaky server in front of pay
// through client, and fills s; an error says the ledger could not be read.
// The orders are the client's own, so that two clients share one ledger.
func runFlaky(ctx context.Context, cfg *config, s *stats, pay *payments, stderr io.Writer, tty bool, client func(http.RoundTripper) *http.Client) error {
	srv := startFlaky(cfg.seed, pay)
	defer srv.Close()
	base := newCountingBase(cfg.c)
	defer base.CloseIdleConnections()
	calls := make([]call, cfg.n)
	for i := range calls {
		if i%5 == 4 {
			order := fmt.Sprintf("%s/order-%d", s.Name, i)
			calls[i] = call{method: http.MethodPost, url: fmt.Sprintf("%s/pay?call=%d", srv.URL, i), order: order,
				body: []byte(fmt.Sprintf(`{"order":%q,"amount":10}`, order))}
			continue
		}
		calls[i] = call{method: http.MethodGet, url: fmt.Sprintf("%s/items/%d?call=%d", srv.URL, i, i)}
	}
	outs := runWorkload(ctx, client(base), calls, cfg.c, cfg.timeout, progressLine(stderr, s.Name, cfg.n, tty), progressTick(tty))
	summarize(s, outs, base, func(v string) string { return v })
	charges, dups, charged, err := srv.effects(s.Name + "/")
	if err != nil {
		return err
	}
	lost := 0
	for _, o := range outs {
		if o.call.order != "" && !o.ok() && charged[o.call.order] {
			lost++
		}
	}
	s.DuplicateEffects, s.LostAnswers, s.Charges = &dups, &lost, &charges
	return nil
}

// runURL sends the workload to cfg.url through the chain.
func runURL(ctx context.Context, cfg *config, stdout, stderr io.Writer, tty bool) int {
	body := []byte(cfg.data)
	if cfg.dataFile != "" {
		b, err := os.ReadFile(cfg.dataFile)
		if err != nil {
			fmt.Fprintln(stderr, "demo: -data-file:", err)
			return 2
		}
		body = b
	}
	if len(body) == 0 {
		body = nil
	}
	s := newStats("rtchain")
	base := newCountingBase(cfg.c)
	defer base.CloseIdleConnections()
	client := newChain(cfg, base, s, stderr)
	calls := make([]call, cfg.n)
	for i := range calls {
		calls[i] = call{method: cfg.method, url: cfg.url, body: body}
	}
	outs := runWorkload(ctx, client, calls, cfg.c, cfg.timeout, progressLine(stderr, s.Name, cfg.n, tty), progressTick(tty))
	u, _ := url.Parse(cfg.url) // validated by parseFlags
	shown, scrub := transport.RedactURL(u)
	summarize(s, outs, base, scrub)
	if cfg.json {
		if err := printJSON(stdout, cfg.info(shown), []*stats{s}); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "%d × %s %s\n\n", cfg.n, cfg.method, shown)
		printTable(stdout, []*stats{s})
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "demo: interrupted")
		return 1
	}
	if s.Failed > 0 {
		return 1
	}
	return 0
}
