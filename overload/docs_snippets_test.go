package overload_test

import (
	"log"
	"net/http"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/overload"
)

// The snippets of docs/server.md about shedding, compiled; see
// transport/docs_snippets_test.go.
var _ = snippetShedFirst

func snippetShedFirst(mux *http.ServeMux) {
	shed := overload.Middleware(overload.Options{})       // outermost: a refused request takes no key
	keys := idempotency.Middleware(idempotency.Options{}) // inside: what is admitted runs once per key
	log.Fatal(http.ListenAndServe(":8080", shed(keys(mux))))
}
