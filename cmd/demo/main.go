// Command demo shows rtchain at work: it starts a flaky server on loopback
// and sends a few calls through a retrying client, printing each retry.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	srv := htu.Start()
	defer srv.Close()
	srv.Handle("/flaky", htu.Status(503), htu.Reset(), htu.OK("flaky: fine in the end\n"))
	srv.Handle("/busy", htu.TooManyRequests(1), htu.OK("busy: served after Retry-After\n"))
	srv.Handle("/pay", htu.Status(503), htu.OK("pay: charged once\n"))
	srv.Handle("/down", htu.Status(503))

	client := &http.Client{
		Transport: transport.Chain(nil, transport.Retry(transport.RetryPolicy{
			OnRetry: func(e transport.RetryEvent) {
				fmt.Fprintf(out, "  retry after attempt %d (%s), waiting %v\n",
					e.Attempt.Number, e.Reason(), e.Wait.Round(time.Millisecond))
			},
		})),
		Timeout: 10 * time.Second,
	}
	defer client.CloseIdleConnections()

	calls := []struct{ method, path, key string }{
		{http.MethodGet, "/flaky", ""},
		{http.MethodGet, "/busy", ""},
		{http.MethodPost, "/pay", "order-42"},
		{http.MethodGet, "/down", ""},
	}
	for _, c := range calls {
		fmt.Fprintf(out, "%s %s\n", c.method, c.path)
		req, err := http.NewRequestWithContext(ctx, c.method, srv.URL+c.path, strings.NewReader(`{"amount":10}`))
		if err != nil {
			return err
		}
		if c.key != "" {
			req.Header.Set("Idempotency-Key", c.key)
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintf(out, "  error: %v\n", err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s: %s", resp.Status, body)
		if !strings.HasSuffix(string(body), "\n") {
			fmt.Fprintln(out)
		}
	}
	fmt.Fprintf(out, "server saw %d requests on %d connection(s) for %d calls\n", srv.Count(), srv.Conns(), len(calls))
	return nil
}
