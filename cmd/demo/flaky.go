package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
)

// flakyServer misbehaves as production servers do, on a fixed schedule so
// that every run shows the same proportions: the nth GET (and the nth POST)
// to arrive gets the nth fate.
//
//	GET   1 in 7 a 503; 1 in 13 a reset connection; 1 in 29 a 2s stall;
//	      1 in 50 a 429 with Retry-After: 1; the rest 200.
//	POST  /pay, behind rtchain's idempotency middleware (it honours
//	      Idempotency-Key): 1 in 11 a 503 before anything happens; 1 in 9
//	      the payment is made and then the connection drops, so the
//	      response is lost.
type flakyServer struct {
	*htu.Server
	pay http.Handler

	mu      sync.Mutex
	gets    int
	posts   int
	charged map[string]int // order → times charged
}

func startFlaky() *flakyServer {
	f := &flakyServer{charged: map[string]int{}}
	f.pay = idempotency.Middleware(idempotency.Options{})(http.HandlerFunc(f.charge))
	f.Server = htu.Start(http.HandlerFunc(f.serve))
	return f
}

var itemOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"item": r.URL.Path})
})

func (f *flakyServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	post := r.Method == http.MethodPost
	if post {
		f.posts++
	} else {
		f.gets++
	}
	n, p := f.gets, f.posts
	f.mu.Unlock()
	if post {
		f.servePay(w, r, p)
		return
	}
	var step http.Handler
	switch {
	case n%50 == 25:
		step = htu.TooManyRequests(1)
	case n%13 == 5:
		step = htu.Reset()
	case n%29 == 11:
		step = htu.Delay(2*time.Second, itemOK)
	case n%7 == 3:
		step = htu.Status(http.StatusServiceUnavailable)
	default:
		step = itemOK
	}
	step.ServeHTTP(w, r)
}

func (f *flakyServer) servePay(w http.ResponseWriter, r *http.Request, n int) {
	switch {
	case n%11 == 2:
		htu.Status(http.StatusServiceUnavailable).ServeHTTP(w, r)
	case n%9 == 4:
		f.pay.ServeHTTP(httptest.NewRecorder(), r) // charged...
		htu.Reset().ServeHTTP(w, r)                // ...but the answer is lost
	default:
		f.pay.ServeHTTP(w, r)
	}
}

// charge is the payment itself: the effect that must happen once per order.
func (f *flakyServer) charge(w http.ResponseWriter, r *http.Request) {
	var req struct{ Order string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Order == "" {
		http.Error(w, "bad order", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.charged[req.Order]++
	f.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"charged":%q}`, req.Order)
}

// effects returns how many orders were charged, and how many extra charges
// (beyond one per order) were made.
func (f *flakyServer) effects() (orders, duplicates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.charged {
		orders++
		duplicates += n - 1
	}
	return orders, duplicates
}

// wasCharged reports whether order was charged.
func (f *flakyServer) wasCharged(order string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.charged[order] > 0
}
