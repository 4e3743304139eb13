// Command demo shows rtchain at work, and doubles as a small load tool.
//
// With no flags it starts a flaky server on loopback (503s, 429 with
// Retry-After, dropped connections, slow attempts, payments whose answer is
// lost, dealt per call from a seed that -seed sets and the run prints) and
// sends the same workload through rtchain's default chain and, for
// contrast, through a bare client, then prints both side by side.
//
// With -url it sends the workload to a real endpoint through the chain:
//
//	go run ./cmd/demo -url https://httpbin.example/status/503 -n 20 -c 4 -v
//
// Run with -h for every flag. The exit status is 0 when every call
// succeeded (and, for the embedded server, no payment was charged twice),
// 1 otherwise, 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr)))
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// -per-try-timeout's defaults: the embedded server answers in
// microseconds, a real endpoint may need seconds.
const (
	embeddedPerTryTimeout = 500 * time.Millisecond
	urlPerTryTimeout      = 3 * time.Second
)

// config is what the flags say.
type config struct {
	url           string
	method        string
	n, c          int
	rate          float64
	retries       int
	timeout       time.Duration
	perTryTimeout time.Duration
	headers       []string
	data          string
	dataFile      string
	verbose       bool
	json          bool
	keys          bool
	seed          uint64
}

type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(strings.TrimSpace(name), " \t") {
		return fmt.Errorf("want 'Name: value', got %q", v)
	}
	*h = append(*h, v)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.url, "url", "", "send the workload to this http(s) URL instead of the embedded flaky server")
	fs.StringVar(&cfg.method, "method", "GET", "HTTP method for -url")
	fs.IntVar(&cfg.n, "n", 0, "number of calls (default 200 for the embedded server, 10 with -url)")
	fs.IntVar(&cfg.c, "c", 8, "calls in flight at once")
	fs.Float64Var(&cfg.rate, "rate", 0, "client rate limit in requests per second, per attempt (0: none)")
	fs.IntVar(&cfg.retries, "retries", 3, "retries after the first attempt (0 or -1: none; in transport.RetryPolicy, MaxRetries 0 means the default, 3, and -1 none)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "bound on each call, retries included")
	fs.DurationVar(&cfg.perTryTimeout, "per-try-timeout", 0,
		"bound on each attempt until its response headers: "+embeddedPerTryTimeout.String()+" by default, "+
			urlPerTryTimeout.String()+" with -url (0: none)")
	var hs headerFlags
	fs.Var(&hs, "H", "request header 'Name: value' (repeatable)")
	fs.StringVar(&cfg.data, "data", "", "request body for -url")
	fs.StringVar(&cfg.dataFile, "data-file", "", "file whose contents are the request body for -url")
	fs.BoolVar(&cfg.verbose, "v", false, "log each call and retry (log/slog, secrets redacted) to stderr")
	fs.BoolVar(&cfg.json, "json", false, "print the summary as JSON")
	fs.Uint64Var(&cfg.seed, "seed", 0, "seed of the embedded server's faults (default: a random one, printed, to repeat a run)")
	fs.BoolVar(&cfg.keys, "keys", false, "give each POST/PATCH to -url an Idempotency-Key, which makes it retryable: only for servers that honour the header (the embedded server does, so its client always has keys)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: demo [flags]

Shows rtchain's retrying client against an embedded flaky server, side by
side with a bare client; or, with -url, sends a workload to a real endpoint.

Examples:
  go run ./cmd/demo
  go run ./cmd/demo -url https://api.example.com/health -n 50 -c 5 -rate 10 -v
  go run ./cmd/demo -url https://api.example.com/orders -method POST \
      -H 'Content-Type: application/json' -data '{"sku":"x"}' -json

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg.headers = hs
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["seed"] {
		cfg.seed = rand.Uint64()
	}
	if !set["per-try-timeout"] {
		cfg.perTryTimeout = embeddedPerTryTimeout
		if cfg.url != "" {
			cfg.perTryTimeout = urlPerTryTimeout
		}
	}
	if set["n"] && cfg.n == 0 {
		return nil, errors.New("-n must be positive")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags come as -name value)", fs.Arg(0))
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (cfg *config) validate() error {
	if cfg.n == 0 {
		cfg.n = 200
		if cfg.url != "" {
			cfg.n = 10
		}
	}
	switch {
	case cfg.n < 0:
		return errors.New("-n must be positive")
	case cfg.c < 1:
		return errors.New("-c must be at least 1")
	case cfg.rate < 0:
		return errors.New("-rate must not be negative")
	case cfg.retries < -1:
		return errors.New("-retries must be -1 (none) or more")
	case cfg.timeout <= 0:
		return errors.New("-timeout must be positive")
	case cfg.perTryTimeout < 0:
		return errors.New("-per-try-timeout must not be negative")
	case !isToken(cfg.method):
		return fmt.Errorf("-method: %q is not an HTTP method (a token, such as GET or POST)", cfg.method)
	case cfg.data != "" && cfg.dataFile != "":
		return errors.New("-data and -data-file are exclusive")
	case cfg.url == "" && (cfg.data != "" || cfg.dataFile != "" || len(cfg.headers) > 0 || cfg.method != "GET"):
		return errors.New("-method, -H, -data and -data-file need -url")
	}
	if cfg.url != "" {
		u, err := url.Parse(cfg.url)
		if err != nil {
			return fmt.Errorf("-url: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-url: want http://host/... or https://host/..., got %q", cfg.url)
		}
	}
	return nil
}

// run is the whole program, minus the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	if cfg.url == "" {
		return runEmbedded(ctx, cfg, stdout, stderr, tty)
	}
	return runURL(ctx, cfg, stdout, stderr, tty)
}

// isToken reports whether s is an RFC 9110 token, as a method must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
