package rtotel_test

import (
	"net/http"

	"github.com/rtchain/rtchain/rtotel"
	"github.com/rtchain/rtchain/transport"
)

// The OpenTelemetry snippet (docs/observability.md), compiled; see
// transport/docs_snippets_test.go.
var _ = snippetInstrumented

func snippetInstrumented() (*http.Client, error) {
	inst, err := rtotel.New(rtotel.Options{}) // the global MeterProvider and TracerProvider
	if err != nil {
		return nil, err
	}
	client := inst.Client(transport.ClientOptions{}) // NewClient's chain, instrumented
	return client, nil
}
