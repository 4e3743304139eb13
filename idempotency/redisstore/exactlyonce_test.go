package redisstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/transport"
)

// ledger is the effect: a payment per key, and what was answered for it.
type ledger struct {
	mu      sync.Mutex
	charged map[string]int
	answer  map[string]string
	runs    atomic.Int64
}

func (l *ledger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	body, _ := io.ReadAll(r.Body)
	n := l.runs.Add(1)
	answer := fmt.Sprintf("charged %s for %s (run %d)", key, body, n)
	l.mu.Lock()
	l.charged[key]++
	l.answer[key] = answer
	l.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// check holds got, the answers of calls keyed order-0, order-1, ..., against
// the ledger: payments charged twice, acknowledged payments missing, and
// answers that are not the original. l.mu is held.
func (l *ledger) check(got []string) (twice, missing, wrong int) {
	for i, answer := range got {
		key := fmt.Sprint("order-", i)
		switch n := l.charged[key]; {
		case n > 1:
			twice++
		case n == 0 && answer != "":
			missing++
		}
		if answer != "" && answer != l.answer[key] {
			wrong++
		}
	}
	return twice, missing, wrong
}

// instance is one replica of the payment service: the middleware on a
// shared store over the shared ledger, behind a front that misbehaves.
func instance(t *testing.T, store idempotency.Store, l *ledger, inflight *sync.WaitGroup) *htu.Server {
	mw := idempotency.Middleware(idempotency.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	stallInside := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond) // holds the key past the client's per-try timeout
		l.ServeHTTP(w, r)
	}))
	plain := mw(l)
	var n atomic.Int64
	return htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Done()
		switch k := n.Add(1); {
		case k%5 == 0: // the effect happens, the answer is lost
			plain.ServeHTTP(httptest.NewRecorder(), r)
			htu.Reset().ServeHTTP(w, r)
		case k%13 == 6: // a slow instance, before it takes the key
			time.Sleep(400 * time.Millisecond)
			plain.ServeHTTP(w, r)
		case k%17 == 8:
			stallInside.ServeHTTP(w, r)
		default:
			plain.ServeHTTP(w, r)
		}
	}))
}

// Two instances on one Redis, 8 goroutines, 500 keyed payments through a
// keyed client that fails over between them; 1 in 5 answers dropped after the
// effect, some requests stalled. Every payment happens exactly once, and
// every call gets the original answer.
func TestExactlyOnceAcrossInstances(t *testing.T) {
	srv := redistest.Start(t, "")
	store := redisstore.New(client(t, srv), "pay:")
	l := &ledger{charged: map[string]int{}, answer: map[string]string{}}
	var inflight sync.WaitGroup
	a, b := instance(t, store, l, &inflight), instance(t, store, l, &inflight)
	var retries atomic.Int64
	client := keyedClient(t, []string{hostOf(t, a.URL), hostOf(t, b.URL)}, 8, 250*time.Millisecond, transport.BreakerOptions{}, &retries)

	const calls = 500
	start := time.Now()
	got, failed := payOrders(t, client, a.URL, calls, 30*time.Second, nil)
	took := time.Since(start)
	inflight.Wait() // stalled requests finish on the server

	l.mu.Lock()
	defer l.mu.Unlock()
	twice, missing, wrong := l.check(got)
	t.Logf("%d keyed payments in %v: %d effects for %d distinct keys, %d charged twice, %d acknowledged but missing, "+
		"%d answers not the original, %d calls failed, %d retries",
		calls, took.Round(time.Millisecond), l.runs.Load(), len(l.charged), twice, missing, wrong, failed, retries.Load())
	assert.Zero(t, twice, "effects executed twice")
	assert.Zero(t, missing)
	assert.Zero(t, wrong)
	assert.Zero(t, failed)
	assert.Equal(t, int64(len(l.charged)), l.runs.Load(), "effects executed == distinct keys")
	require.Equal(t, calls, len(l.charged))
}

// keyedClient is a keyed rtchain client that fails over between hosts, with
// no retry budget, counting its retries in retries.
func keyedClient(t *testing.T, hosts []string, maxRetries int, perTry time.Duration, breaker transport.BreakerOptions,
	retries *atomic.Int64) *http.Client {
	base := cleanhttp.DefaultPooledTransport()
	t.Cleanup(base.CloseIdleConnections)
	return transport.NewClientWith(transport.ClientOptions{
		Base:            base,
		IdempotencyKeys: true,
		Timeout:         -1,
		Retry: transport.RetryPolicy{
			MaxRetries:    maxRetries,
			PerTryTimeout: perTry,
			Hosts:         hosts,
			Budget:        transport.RetryBudget{Disabled: true},
			OnRetry:       func(transport.RetryEvent) { retries.Add(1) },
		},
		Breaker: breaker,
	})
}

// payOrders pays orders order-0 to order-(calls-1), 8 at a time, each
// within timeout, through client to url, and returns each order's answer
// ("" for a call that failed, which it reports) and how many failed; done,
// when set, counts the calls ended.
func payOrders(t *testing.T, client *http.Client, url string, calls int, timeout time.Duration, done *atomic.Int64) ([]string, int64) {
	got := make([]string, calls)
	var failed atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				status, body, err := pay(client, url, fmt.Sprint("order-", i), fmt.Sprint(i, " EUR"), timeout)
				if done != nil {
					done.Add(1)
				}
				if err != nil || status/100 != 2 {
					failed.Add(1)
					t.Errorf("order %d: %d %s %v", i, status, body, err)
					continue
				}
				got[i] = body
			}
		})
	}
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return got, failed.Load()
}

// pay POSTs a payment of amount to url/pay with key as its
// Idempotency-Key, within timeout, and returns the answer's status and body.
func pay(client *http.Client, url, key, amount string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/pay", strings.NewReader(amount))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}
