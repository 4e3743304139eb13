package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	htu "github.com/rtchain/rtchain/httptestutil"
)

// flakyServer misbehaves as production servers do, on a schedule dealt per
// call from a seed, so that a run is reproducible and both clients meet the
// same faults: call i's first attempts fail (each with probability
// faultRate, at most maxFaults in a row, so that a client with 3 retries can
// always get through), and its later attempts succeed. A fault is
//
//	GET   a 503; a reset connection; a 2s stall; a 429 with Retry-After: 1.
//	POST  /pay, behind rtchain's idempotency middleware (it honours
//	      Idempotency-Key) on a SQLite ledger (sqlstore: the charge and its
//	      stored answer commit together): a 503 before anything happens;
//	      or the payment is made and then the connection drops, so the
//	      answer is lost.
//
// Each request names its call with ?call=i; the server counts attempts.
type flakyServer struct {
	*htu.Server
	seed uint64

	payments *payments // POST /pay: the charges, and the keys

	mu       sync.Mutex
	attempts map[int]int // call → attempts seen
}

const (
	faultRate = 0.2
	maxFaults = 3
)

type fault int

const (
	none fault = iota
	unavailable
	reset
	stall
	throttled
	lostAnswer
)

// faults deals call i's schedule: the faults of its first attempts.
func faults(seed uint64, call int, post bool) []fault {
	rng := rand.New(rand.NewPCG(seed, uint64(call)))
	var out []fault
	for len(out) < maxFaults && rng.Float64() < faultRate {
		r := rng.Float64()
		switch {
		case post && r < 0.45:
			out = append(out, unavailable)
		case post:
			out = append(out, lostAnswer)
		case r < 0.5:
			out = append(out, unavailable)
		case r < 0.75:
			out = append(out, reset)
		case r < 0.9:
			out = append(out, stall)
		default:
			out = append(out, throttled)
		}
	}
	return out
}

func startFlaky(seed uint64, p *payments) *flakyServer {
	f := &flakyServer{seed: seed, attempts: map[int]int{}, payments: p}
	f.Server = htu.Start(http.HandlerFunc(f.serve))
	return f
}

var itemOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"item": r.URL.Path})
})

func (f *flakyServer) serve(w http.ResponseWriter, r *http.Request) {
	post := r.Method == http.MethodPost
	call, _ := strconv.Atoi(r.URL.Query().Get("call"))
	f.mu.Lock()
	f.attempts[call]++
	n := f.attempts[call]
	f.mu.Unlock()
	fate := none
	if sched := faults(f.seed, call, post); n <= len(sched) {
		fate = sched[n-1]
	}
	var step http.Handler
	switch fate {
	case unavailable:
		step = htu.Status(http.StatusServiceUnavailable)
	case reset:
		step = htu.Reset()
	case stall:
		step = htu.Delay(2*time.Second, itemOK)
	case throttled:
		step = htu.TooManyRequests(1)
	case lostAnswer:
		f.payments.ServeHTTP(httptest.NewRecorder(), r) // charged...
		step = htu.Reset()                              // ...but the answer is lost
	default:
		step = itemOK
		if post {
			step = f.payments
		}
	}
	step.ServeHTTP(w, r)
}

// effects returns, from the ledger, how many charges it holds for the
// orders that start with prefix, how many of them are extra (beyond one
// per order), and the set of those orders charged.
func (f *flakyServer) effects(prefix string) (charges, duplicates int, charged map[string]bool, err error) {
	counts, err := f.payments.charges()
	if err != nil {
		return 0, 0, nil, err
	}
	charged = map[string]bool{}
	for order, n := range counts {
		if !strings.HasPrefix(order, prefix) {
			continue
		}
		charges += n
		duplicates += n - 1
		charged[order] = true
	}
	return charges, duplicates, charged, nil
}
