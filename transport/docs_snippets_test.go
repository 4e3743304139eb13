package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/rtchain/rtchain/transport"
)

// The Go snippets of the README and of docs/, compiled. The doc check
// (internal/doccheck) finds each snippet's lines, in order, in a file like
// this one, so that a snippet that would not compile fails CI. Edit a
// snippet here and in its page together.
var _ = []any{snippetQuickStart, snippetOutcome, snippetTrace}

func snippetQuickStart() (*http.Response, error) {
	client := transport.NewClient() // the default chain, quiet; 30s for a response to begin, 30s for a stalled body
	resp, err := client.Get("https://api.example.com/things")
	return resp, err
}

func snippetOutcome(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err // no response: the *transport.RetryError says how many attempts were made
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%s: %s", req.URL.Path, resp.Status) // retries exhausted, or not retryable
	}
	return nil
}

func snippetTrace(ctx context.Context, client *http.Client, req *http.Request, retries *atomic.Int64, attempts interface{ Record(int) }) (*http.Response, error) {
	ctx = transport.WithTrace(ctx, &transport.Trace{
		Retry:   func(e transport.RetryEvent) { retries.Add(1) },
		CallEnd: func(e transport.CallEndEvent) { attempts.Record(e.Attempts) },
	})
	resp, err := client.Do(req.WithContext(ctx))
	return resp, err
}
