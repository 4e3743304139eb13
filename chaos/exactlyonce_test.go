package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/transport"
)

// scenario is one fault, and the keyed payments sent through it.
type scenario struct {
	name  string
	calls int
	// storm, if > 1, is how many senders share each key, at once.
	storm int
	// lease and perTry override the defaults (2 s, 2 s).
	lease, perTry time.Duration
	// kills: instances die in this scenario.
	kills bool
	// breaker configures the client's circuit breaker; its zero value
	// means the defaults.
	breaker transport.BreakerOptions
	hooks   func(*scenarioRun) hooks
	setup   func(*testing.T, *fleet)
	// during runs alongside the calls; done counts calls ended.
	during func(*testing.T, *fleet, *atomic.Int64)
}

// scenarioRun is what a scenario's hooks count.
type scenarioRun struct {
	kills, stalls atomic.Int64
}

// row is one line of the Reliability table.
type row struct {
	name                           string
	calls, keys, effects           int
	failed, reruns, missing, wrong int
	retries, fenced, unconfirmed   int64
	kills, stalls, redisDials      int64
	took                           time.Duration
	goroutines, fds, redisConns    bool
}

func scenarios(rs *redistest.Server) []scenario {
	return []scenario{{
		name:  "network faults, client ↔ instance",
		calls: 1500,
		setup: func(t *testing.T, f *fleet) {
			for _, in := range f.inst {
				for _, x := range faults { // reset, timeout, latency, slicer, limit_data, bandwidth
					addToxic(t, in.front, x)
				}
			}
		},
	}, {
		name:  "instance killed after the effect, before the answer; restarted",
		calls: 2000,
		kills: true,
		// A cool-down as long as a restart: with the default 5 s, both
		// circuits are open for seconds after both instances died, and
		// calls fail fast although the fleet is back.
		breaker: transport.BreakerOptions{CoolDown: 300 * time.Millisecond},
		hooks: func(run *scenarioRun) hooks {
			var n atomic.Int64
			return hooks{front: func(in *instance, w http.ResponseWriter, r *http.Request, next http.Handler) {
				// One request in 40, on either instance, while the whole
				// fleet has been up for 300 ms: one instance dies
				// at a time, and the client has a live one to fail over to.
				if n.Add(1)%40 != 0 || !in.f.upFor(300*time.Millisecond) {
					next.ServeHTTP(w, r)
					return
				}
				next.ServeHTTP(httptest.NewRecorder(), r) // the effect happens, the response is stored
				if in.kill() {                            // and the process dies before it answers
					run.kills.Add(1)
					in.restartAfter(300 * time.Millisecond)
				}
				panic(http.ErrAbortHandler)
			}}
		},
	}, {
		name:   "instance stalled past its lease while the other takes the key",
		calls:  500,
		lease:  time.Second,
		perTry: 400 * time.Millisecond,
		hooks: func(run *scenarioRun) hooks {
			var n atomic.Int64
			return hooks{beforeEffect: func(in *instance, r *http.Request) {
				if in.name == "a" && n.Add(1)%10 == 0 {
					run.stalls.Add(1)
					time.Sleep(1500 * time.Millisecond) // a GC pause, a frozen VM: past the lease
				}
			}}
		},
	}, {
		name:  "Redis killed (SIGKILL) and restarted",
		calls: 1000,
		// Both instances fail together: a breaker has nowhere to fail over.
		breaker: transport.BreakerOptions{Disabled: true},
		during: func(t *testing.T, f *fleet, done *atomic.Int64) {
			for done.Load() < 300 {
				time.Sleep(time.Millisecond) // waiting for the run to be under way
			}
			rs.Kill()
			time.Sleep(500 * time.Millisecond) // Redis is down
			if err := rs.Restart(); err != nil {
				t.Error(err)
			}
		},
	}, {
		name:    "Redis slow (latency), cutting and resetting connections",
		calls:   1000,
		breaker: transport.BreakerOptions{Disabled: true},
		setup: func(t *testing.T, f *fleet) {
			for _, in := range f.inst {
				addToxic(t, in.toRedis, toxic{"latency", "downstream", 1, `{"latency": 5, "jitter": 5}`})
				// A connection closed after 600 bytes of replies: the command whose
				// reply it cuts has run, and go-redis sends it again.
				addToxic(t, in.toRedis, toxic{"limit_data", "downstream", 1, `{"bytes": 600}`})
				// One connection in five reset 100 ms after its first command,
				// which it swallows.
				addToxic(t, in.toRedis, toxic{"reset_peer", "upstream", 0.2, `{"timeout": 100}`})
			}
		},
	}, {
		name:  "duplicate storm: 20 senders of each key at once",
		calls: 500,
		storm: 20,
	}}
}

// TestExactlyOnceUnderFaults sends keyed payments through a keyed rtchain
// client to two instances of a service behind idempotency.Middleware on a
// real Redis, one fault at a time. Every payment must happen once: the
// handler runs once per key (a second run only where the first run's
// instance died between its charge and storing its response: the ledger's
// own key check keeps that from charging twice), none is acknowledged and
// missing, every 2xx answer is the original; and goroutines, file
// descriptors and Redis connections must be back to their baseline after
// each scenario.
func TestExactlyOnceUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the exactly-once scenarios take a minute")
	}
	rs := redistest.Start(t, t.TempDir()) // persistent: it is killed and restarted
	var rows []row
	all := scenarios(rs)
	for i, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			rows = append(rows, runScenario(t, rs, sc, fmt.Sprintf("s%d", i)))
		})
	}
	total := 0
	var table strings.Builder
	table.WriteString("\n| scenario | keyed calls | charges | second runs | acknowledged, not charged | not the original | ended in an error | retries | fenced / unconfirmed | kills / stalls | Redis dials | took | goroutines, fds, Redis conns back |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		total += r.calls
		fmt.Fprintf(&table, "| %s | %d | %d | %d | %d | %d | %d | %d | %d / %d | %d / %d | %d | %v | %v, %v, %v |\n",
			r.name, r.calls, r.effects, r.reruns, r.missing, r.wrong, r.failed, r.retries, r.fenced, r.unconfirmed,
			r.kills, r.stalls, r.redisDials,
			r.took.Round(100*time.Millisecond), r.goroutines, r.fds, r.redisConns)
	}
	t.Logf("exactly once, %d keyed calls:%s", total, table.String())
	if len(rows) == len(all) && total < 5000 { // unless -run picked some
		t.Errorf("%d keyed calls in all, fewer than 5,000", total)
	}
	runSQLScenarios(t)
}

// runScenario runs sc on a fleet of its own, with keys that start with
// prefix.
func runScenario(t *testing.T, rs *redistest.Server, sc scenario, prefix string) row {
	base := takeBaseline(t, "Redis connections", rs.Clients)
	run := &scenarioRun{}
	var h hooks
	if sc.hooks != nil {
		h = sc.hooks(run)
	}
	opts := idempotency.Options{Lease: orDefault(sc.lease, 2*time.Second), RetryAfter: 200 * time.Millisecond}
	f := newFleet(t, rs, opts, h)
	if sc.setup != nil {
		sc.setup(t, f)
	}
	var retries atomic.Int64
	client, pool := f.client(orDefault(sc.perTry, 2*time.Second), sc.breaker, &retries)

	keyOf := func(i int) int { return i }
	workers := 16
	if sc.storm > 1 {
		keyOf = func(i int) int { return i / sc.storm }
		workers = sc.storm
	}
	got := make([]outcome, sc.calls)
	var done atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				k := keyOf(i)
				got[i] = send(client, f.inst[0].front.Listen, fmt.Sprintf("%s-%d", prefix, k), fmt.Sprint(k, " EUR"))
				done.Add(1)
			}
		})
	}
	var during sync.WaitGroup
	if sc.during != nil {
		during.Go(func() { sc.during(t, f, &done) })
	}
	start := time.Now()
	for i := range sc.calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	during.Wait()
	f.close()
	pool.CloseIdleConnections()

	r := row{name: sc.name, calls: sc.calls, took: took, fenced: f.fenced.Load(), retries: retries.Load(),
		unconfirmed: f.unconfirmed.Load(), redisDials: f.dials.Load(),
		kills: run.kills.Load(), stalls: run.stalls.Load()}
	l := f.ledger
	keys := map[string]bool{}
	for i, o := range got {
		key := fmt.Sprintf("%s-%d", prefix, keyOf(i))
		keys[key] = true
		switch {
		case o.err != nil || o.status != http.StatusCreated:
			r.failed++
			if r.failed <= 3 {
				t.Logf("call %d (%s) ended in an error: %d %q %v", i, key, o.status, o.body, o.err)
			}
			if o.err != nil && o.err.Error() == "" {
				t.Errorf("call %d: an error without a message", i)
			}
		case l.charged[key] == 0:
			r.missing++
			t.Errorf("call %d: %s acknowledged (%q), but never charged", i, key, o.body)
		case o.body != l.answer[key]:
			r.wrong++
			t.Errorf("call %d: %s answered %q, the original was %q", i, key, o.body, l.answer[key])
		}
	}
	for key := range keys {
		if n := l.reruns[key]; n > 0 {
			r.reruns += n
			// The one window the middleware cannot close: the first run
			// charged, and its instance died before it stored the
			// response. Anything else is a bug.
			if !sc.kills || l.live[key] > 0 {
				t.Errorf("%s: the handler ran %d more times after its charge (%d while the charging instance lived)",
					key, n, l.live[key])
			}
		}
	}
	r.keys, r.effects = len(keys), l.effects
	r.goroutines, r.fds, r.redisConns = base.settled(t)
	if r.failed > sc.calls/100 {
		t.Errorf("%d of %d calls ended in an error", r.failed, sc.calls)
	}
	return r
}

// client returns a keyed rtchain client that fails over between f's
// instances, and its pool; it counts its retries in retries.
func (f *fleet) client(perTry time.Duration, breaker transport.BreakerOptions, retries *atomic.Int64) (*http.Client, *http.Transport) {
	var hosts []string
	for _, in := range f.inst {
		hosts = append(hosts, in.front.Listen)
	}
	return keyedClient(hosts, perTry, breaker, retries)
}

// keyedClient returns a keyed rtchain client that fails over between
// hosts, and its pool; it counts its retries in retries.
func keyedClient(hosts []string, perTry time.Duration, breaker transport.BreakerOptions, retries *atomic.Int64) (*http.Client, *http.Transport) {
	pool := cleanhttp.DefaultPooledTransport()
	pool.DisableKeepAlives = true // toxics apply per connection: one per attempt
	return transport.NewClientWith(transport.ClientOptions{
		Base:            pool,
		IdempotencyKeys: true,
		Timeout:         -1, // each call has its deadline
		Retry: transport.RetryPolicy{
			MaxRetries:    12,
			PerTryTimeout: perTry,
			Hosts:         hosts,
			Budget:        transport.RetryBudget{Disabled: true},
			OnRetry:       func(transport.RetryEvent) { retries.Add(1) },
		},
		Breaker: breaker,
	}), pool
}

type outcome struct {
	status int
	body   string
	err    error
}

// send POSTs a payment of amount with key to host, within 30 s.
func send(client *http.Client, host, key, amount string) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/pay", strings.NewReader(amount))
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return outcome{status: resp.StatusCode, body: string(body), err: err}
}

// baseline is what a scenario must leave as it found: goroutines, file
// descriptors, and the connections a server counts (Redis's clients, a
// database's backends).
type baseline struct {
	goroutines goleak.Option
	ignore     []goleak.Option // goroutines the scenario may leave, besides Toxiproxy's
	fds        int
	fdTargets  map[string]string
	connsName  string
	conns      func() (int, error)
	connsAt    int
}

// takeBaseline records the baseline; conns counts the server's connections
// (named name in errors).
func takeBaseline(t *testing.T, name string, conns func() (int, error), ignore ...goleak.Option) baseline {
	n, err := conns()
	if err != nil {
		t.Fatal(err)
	}
	return baseline{goroutines: goleak.IgnoreCurrent(), ignore: ignore, fds: openFDs(t), fdTargets: fdTargets(),
		connsName: name, conns: conns, connsAt: n}
}

// settled waits (at most 30 s) for file descriptors and the server's
// connections to be back to b, and reports which are, with goroutines. A
// few sockets have been seen, rarely, to outlive a scenario by about 10 s
// (the cause is not found: the test logs them when it takes over 5 s); a
// leak never returns.
func (b baseline) settled(t *testing.T) (goroutines, fds, conns bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	var extra string // the descriptors above the baseline, when last seen
	for {
		n, err := b.conns()
		conns = err == nil && n <= b.connsAt
		fds = openFDs(t) <= b.fds+1 // +1: the /proc read
		if !fds {
			extra = newFDs(b.fdTargets)
		}
		if (conns && fds) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the kernel and the server, not goroutines
	}
	if took := time.Since(start); took > 5*time.Second && extra != "" {
		t.Logf("file descriptors settled after %v; the last above the baseline:%s", took.Round(time.Millisecond), extra)
	}
	err := goleak.Find(append(append(toxiproxyGoroutines(), b.ignore...), b.goroutines)...)
	goroutines = err == nil
	if !goroutines {
		t.Errorf("goroutines left: %v", err)
	}
	if !fds {
		t.Errorf("file descriptors: %d before, %d after; new:%s", b.fds, openFDs(t), extra)
	}
	if !conns {
		n, err := b.conns()
		t.Errorf("%s: %d before, %d after (%v)", b.connsName, b.connsAt, n, err)
	}
	return goroutines, fds, conns
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
