package idempotency_test

import (
	"net/http"

	"github.com/rtchain/rtchain/idempotency"
)

// The server half's snippets (docs/server.md), compiled; see
// transport/docs_snippets_test.go.
var _, _ = pay, snippetMemory

func snippetMemory() {
	mw := idempotency.Middleware(idempotency.Options{}) // in memory; POST and PATCH; keys optional, scoped by caller
	http.Handle("/pay", mw(http.HandlerFunc(pay)))      // pay: your func(http.ResponseWriter, *http.Request)
}

const amount = 10

func charge(key string, amount int) { _, _ = key, amount }

func pay(w http.ResponseWriter, r *http.Request) {
	// validate, price: anything that may run twice
	if err := idempotency.Confirm(r.Context()); err != nil {
		// ErrLeaseLost: a duplicate holds the key. A 5xx makes the client
		// retry and get the outcome of the run that holds it.
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	charge(r.Header.Get("Idempotency-Key"), amount) // within a lease of Confirm
}
