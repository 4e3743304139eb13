package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/transport"
)

func TestMain(m *testing.M) {
	// go-redis logs the connections the scenarios cut; the tests count
	// what matters.
	redis.SetLogger(quiet{})
	goleak.VerifyTestMain(m, toxiproxyGoroutines()...)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// toxiproxyGoroutines ignores the goroutines Toxiproxy leaves blocked after
// Stop (its link goroutines, ignored by the functions that start them).
// Every other goroutine (net/http's, rtchain's, go-redis's, the servers')
// must be gone.
func toxiproxyGoroutines() []goleak.Option {
	const tp = "github.com/Shopify/toxiproxy/v2"
	return []goleak.Option{
		goleak.IgnoreAnyFunction(tp + ".(*ToxicLink).read"),
		goleak.IgnoreAnyFunction(tp + ".(*ToxicLink).write"),
		goleak.IgnoreAnyFunction(tp + "/toxics.(*ToxicStub).Run"),
		goleak.IgnoreAnyFunction(tp + ".(*Proxy).server"),
		goleak.IgnoreAnyFunction(tp + ".(*Proxy).freeBlocker"),
	}
}

// callDeadline bounds each call, retries included.
const callDeadline = 15 * time.Second

type kind int

const (
	getBlob kind = iota
	putObj
	postPay
)

// result is what one call of the workload ended with.
type result struct {
	kind      kind
	key       string // POST: its Idempotency-Key
	err       error
	status    int
	corrupted string // why the bytes did not match, if they did not
	took      time.Duration
}

// TestChaos sends calls (2,000; 400 with -short) mixing GET, PUT and keyed
// POST, bodies of 0 to 96 KiB, through rtchain's default chain and a
// Toxiproxy that resets, stalls, slows, slices and cuts connections.
func TestChaos(t *testing.T) {
	calls := 2000
	if testing.Short() {
		calls = 400
	}
	fdsBefore := openFDs(t)
	up := newUpstream()
	defer up.Close()
	addr := startProxy(t, strings.TrimPrefix(up.URL, "http://"))

	base := cleanhttp.DefaultPooledTransport()
	base.DisableKeepAlives = true // toxics apply per connection: one per attempt
	var attempts atomic.Int64
	var retries sync.Map // reason → *atomic.Int64
	client := transport.NewClientWith(transport.ClientOptions{
		Base: transport.RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
			attempts.Add(1)
			return base.RoundTrip(r)
		}),
		Retry: transport.RetryPolicy{
			MaxRetries:    5,
			PerTryTimeout: 2 * time.Second,
			OnRetry: func(e transport.RetryEvent) {
				v, _ := retries.LoadOrStore(reason(e), new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			},
		},
		Timeout:         -1,   // each call has its own deadline
		IdempotencyKeys: true, // the upstream honours keys
	})

	results := make([]result, calls)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				results[i] = call(client, "http://"+addr, i)
			}
		})
	}
	start := time.Now()
	for i := range calls {
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)

	var ok, failed, corrupted, duplicates int
	var readFailures [3]int // by kind: the response came, its body broke off
	for i, r := range results {
		if r.err != nil && strings.HasPrefix(r.err.Error(), "reading the response") {
			readFailures[r.kind]++
		}
		switch {
		case r.corrupted != "":
			corrupted++
			t.Errorf("call %d: corrupted: %s", i, r.corrupted)
		case r.err != nil:
			failed++
			if failed <= 5 {
				t.Logf("call %d failed, clearly: %v", i, r.err)
			}
			if r.err.Error() == "" {
				t.Errorf("call %d: an error without a message", i)
			}
			if r.took > callDeadline+time.Second {
				t.Errorf("call %d took %v, past its %v deadline", i, r.took, callDeadline)
			}
		case r.status >= 200 && r.status < 300:
			ok++
		default:
			failed++
		}
		if r.kind == postPay {
			up.mu.Lock()
			n := up.applied[r.key]
			up.mu.Unlock()
			if n > 1 {
				duplicates += n - 1
				t.Errorf("call %d: payment %s applied %d times", i, r.key, n)
			}
			if r.err == nil && r.status == http.StatusCreated && n != 1 {
				t.Errorf("call %d: payment %s succeeded but was applied %d times", i, r.key, n)
			}
		}
	}
	var byReason []string
	retries.Range(func(k, v any) bool {
		byReason = append(byReason, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("chaos: bodies that broke off after the response came: %d GET (resumable), %d PUT, %d POST",
		readFailures[getBlob], readFailures[putObj], readFailures[postPay])
	t.Logf("chaos: %d calls in %v: %d succeeded, %d failed with an error, %d corrupted, %d duplicate payments; "+
		"%d attempts, %d faults seen and retried (%s); toxics: %s",
		calls, elapsed.Round(time.Millisecond), ok, failed, corrupted, duplicates,
		attempts.Load(), attempts.Load()-int64(calls), strings.Join(byReason, ", "), toxicList())
	// A GET whose body breaks off after the headers is resumed (Range,
	// If-Range on the upstream's ETag): before that, 14 to 26 of them
	// failed a run. The margin is for a body cut more often than the
	// call's retries allow.
	if readFailures[getBlob] > 2 {
		t.Errorf("%d GETs failed reading a resumable body", readFailures[getBlob])
	}
	if ok < calls*9/10 {
		t.Errorf("only %d of %d calls succeeded", ok, calls)
	}

	base.CloseIdleConnections()
	up.Close()
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > fdsBefore+2 && time.Now().Before(deadline) { // +2: the proxy's listener and the /proc read
		time.Sleep(50 * time.Millisecond)
	}
	if n := openFDs(t); n > fdsBefore+2 {
		t.Errorf("open file descriptors: %d before, %d after", fdsBefore, n)
	}
}

func toxicList() string {
	var s []string
	for _, f := range faults {
		s = append(s, fmt.Sprintf("%s(%s,%.0f%%)", f.kind, f.stream, f.toxicity*100))
	}
	return strings.Join(s, " ")
}

func reason(e transport.RetryEvent) string {
	if e.Attempt.Response != nil {
		return fmt.Sprint(e.Attempt.Response.StatusCode)
	}
	err := e.Attempt.Err
	switch {
	case errors.Is(err, transport.ErrPerTryTimeout):
		return "per-try-timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case strings.Contains(err.Error(), "reset"):
		return "reset"
	}
	return "other"
}

// call sends call i: a GET, PUT or POST chosen by i, with a body of a size
// drawn from i, and checks the bytes on both sides.
func call(client *http.Client, url string, i int) result {
	rng := rand.New(rand.NewPCG(uint64(i), 11))
	size := rng.IntN(96 << 10)
	if rng.IntN(4) == 0 {
		size = rng.IntN(512) // many small ones too
	}
	ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
	defer cancel()
	start := time.Now()
	r := result{kind: kind(i % 3)}
	var req *http.Request
	var sent []byte
	switch r.kind {
	case getBlob:
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/blob/%d", url, size), nil)
	case putObj, postPay:
		sent = make([]byte, size)
		for j := range sent {
			sent[j] = byte(rng.UintN(256))
		}
		// A plain reader: no GetBody, no length; rtchain records it to replay.
		body := struct{ io.Reader }{bytes.NewReader(sent)}
		if r.kind == putObj {
			req, _ = http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/obj/%d", url, i), body)
		} else {
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, url+"/pay", body)
			r.key = fmt.Sprintf("pay-%d", i)
			req.Header.Set("Idempotency-Key", r.key)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		r.err, r.took = err, time.Since(start)
		return r
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.status, r.took = resp.StatusCode, time.Since(start)
	if err != nil {
		r.err = fmt.Errorf("reading the response: %w", err)
		return r
	}
	if resp.StatusCode >= 300 {
		return r
	}
	switch r.kind {
	case getBlob:
		if want := hash(blob(size)); hash(got) != want || resp.Header.Get("X-Sha256") != want {
			r.corrupted = fmt.Sprintf("GET of %d bytes: got %d bytes hashing %s", size, len(got), hash(got)[:12])
		}
	default:
		if string(got) != hash(sent) {
			r.corrupted = fmt.Sprintf("%d bytes sent, server hashed %q", size, got)
		}
	}
	return r
}
