package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/redis/go-redis/v9"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
)

// ledger is the effect the fleet exists for: a payment per key, made by
// whichever instance runs the request. Like a payment provider, it takes
// the Idempotency-Key with the charge and charges a key once: a second run
// of a key gets the first charge's answer. It counts those second runs: each
// would have been a second payment without the key, and each must come from
// a first run whose instance died before it could store its response.
type ledger struct {
	mu      sync.Mutex
	charged map[string]int // key → charges made
	answer  map[string]string
	reruns  map[string]int   // key → runs after the charge
	live    map[string]int   // key → of those, runs while the charging instance lived
	firstBy map[string]*life // key → the life that charged it
	effects int
}

func newLedger() *ledger {
	return &ledger{charged: map[string]int{}, answer: map[string]string{},
		firstBy: map[string]*life{}, reruns: map[string]int{}, live: map[string]int{}}
}

// charge makes the payment for key, once, unless the process making it is
// dead (a killed process commits nothing), and returns the answer.
func (l *ledger) charge(key, amount string, by *life) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !by.alive.Load() {
		return "", false
	}
	if l.charged[key] > 0 {
		l.reruns[key]++
		if l.firstBy[key].alive.Load() {
			l.live[key]++
		}
		return l.answer[key], true
	}
	l.effects++
	l.charged[key]++
	l.firstBy[key] = by
	l.answer[key] = fmt.Sprintf("charged %s for %s (effect %d)", key, amount, l.effects)
	return l.answer[key], true
}

// hooks are a scenario's faults inside the fleet.
type hooks struct {
	// front, if set, serves each request to an instance instead of the
	// middleware, next, (to kill the instance mid-request).
	front func(in *instance, w http.ResponseWriter, r *http.Request, next http.Handler)
	// beforeEffect, if set, runs once the request holds its key, before
	// the handler's fence (to stall it there).
	beforeEffect func(in *instance, r *http.Request)
}

// instance is one replica of the payment service: an HTTP server on a
// loopback address of its own, which it keeps across restarts; the
// idempotency middleware on Redis, reached through a Toxiproxy of its own;
// a fenced payment handler over the fleet's ledger. Clients reach it through
// another Toxiproxy.
type instance struct {
	f       *fleet
	name    string
	addr    string
	front   *toxiproxy.Proxy // clients → instance
	toRedis *toxiproxy.Proxy // instance → Redis
	seen    atomic.Int64     // requests, over all its lives
	started atomic.Int64     // when its current life began, in Unix ns; 0 while dead

	mu       sync.Mutex
	life     *life // nil while dead
	serving  sync.WaitGroup
	handlers sync.WaitGroup
	restarts sync.WaitGroup
}

// life is one run of an instance's process, from start to kill.
type life struct {
	alive atomic.Bool
	srv   *http.Server
	rdb   *redis.Client
}

// start starts a life of in, on its address.
func (in *instance) start() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		return err
	}
	l := &life{rdb: redis.NewClient(&redis.Options{Addr: in.toRedis.Listen, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second})}
	l.rdb.AddHook(dials{&in.f.dials})
	l.alive.Store(true)
	o := in.f.opts
	o.Store = redisstore.New(l.rdb, "chaos:")
	mw := idempotency.Middleware(o)(in.pay(l))
	l.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.handlers.Add(1)
		defer in.handlers.Done()
		in.seen.Add(1)
		if in.f.hooks.front != nil {
			in.f.hooks.front(in, w, r, mw)
			return
		}
		mw.ServeHTTP(w, r)
	}), ErrorLog: log.New(io.Discard, "", 0)}
	l.srv.SetKeepAlivesEnabled(false)
	in.life = l
	in.started.Store(time.Now().UnixNano())
	in.serving.Go(func() { _ = l.srv.Serve(ln) })
	return nil
}

// pay is the handler of one life: it fences its effect with
// idempotency.Confirm, and a dead process aborts.
func (in *instance) pay(l *life) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		amount, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if in.f.hooks.beforeEffect != nil {
			in.f.hooks.beforeEffect(in, r)
		}
		if err := idempotency.Confirm(r.Context()); err != nil {
			if errors.Is(err, idempotency.ErrLeaseLost) {
				in.f.fenced.Add(1)
			} else {
				in.f.unconfirmed.Add(1)
			}
			http.Error(w, "the key was lost: try again", http.StatusServiceUnavailable)
			return
		}
		answer, ok := in.f.ledger.charge(r.Header.Get("Idempotency-Key"), string(amount), l)
		if !ok {
			panic(http.ErrAbortHandler) // the process is gone: nothing more happens
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	})
}

// kill ends in's life as SIGKILL would: its connections, to clients and
// to Redis, are cut; what its requests had not committed never is. It
// reports false if in was dead already.
func (in *instance) kill() bool {
	in.mu.Lock()
	l := in.life
	in.life = nil
	in.started.Store(0)
	in.mu.Unlock()
	if l == nil {
		return false
	}
	l.alive.Store(false)
	_ = l.srv.Close()
	_ = l.rdb.Close()
	return true
}

// restartAfter starts in again after d, in the background.
func (in *instance) restartAfter(d time.Duration) {
	in.restarts.Go(func() {
		time.Sleep(d) // the instance is down: a supervisor restarts it
		if err := in.start(); err != nil {
			in.f.t.Errorf("%s: restart: %v", in.name, err)
		}
	})
}

// fleet is two instances on one Redis, the ledger, and a keyed rtchain
// client that fails over between the instances.
type fleet struct {
	t           *testing.T
	redis       *redistest.Server
	ledger      *ledger
	opts        idempotency.Options
	hooks       hooks
	inst        []*instance
	fenced      atomic.Int64 // runs that lost their key before their effect
	unconfirmed atomic.Int64 // runs whose fence could not reach Redis
	dials       atomic.Int64 // connections to Redis opened
}

// dials counts the connections a go-redis client opens: a pool that loses
// connections to resets opens more.
type dials struct{ n *atomic.Int64 }

func (d dials) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.n.Add(1)
		return next(ctx, network, addr)
	}
}
func (d dials) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (d dials) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func newFleet(t *testing.T, rs *redistest.Server, opts idempotency.Options, h hooks) *fleet {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	f := &fleet{t: t, redis: rs, ledger: newLedger(), opts: opts, hooks: h}
	for _, name := range []string{"a", "b"} {
		addr, err := htu.ReusableAddr() // it restarts on it
		if err != nil {
			t.Fatal(err)
		}
		in := &instance{f: f, name: name, addr: addr, toRedis: newProxy(t, name+"-redis", rs.Addr)}
		if err := in.start(); err != nil {
			t.Fatal(err)
		}
		in.front = newProxy(t, name+"-front", in.addr)
		f.inst = append(f.inst, in)
	}
	return f
}

// upFor reports whether every instance has been running for at least d.
func (f *fleet) upFor(d time.Duration) bool {
	now := time.Now().UnixNano()
	for _, in := range f.inst {
		if s := in.started.Load(); s == 0 || now-s < int64(d) {
			return false
		}
	}
	return true
}

// close stops the fleet, its proxies included (their test cleanup then
// finds them stopped), and waits for everything it started: the scenario's
// baseline is checked right after.
func (f *fleet) close() {
	for _, in := range f.inst {
		in.restarts.Wait()
		in.kill()
		in.serving.Wait()
		in.handlers.Wait()
		in.front.Stop()
		in.toRedis.Stop()
	}
}
