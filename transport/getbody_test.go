package transport_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// A GetBody that returns neither a body nor an error is an error, not a
// panic in net/http's write loop: the call ends on the attempt it has, and
// sends nothing more. With Hedge, such a body is not hedged.
func TestAGetBodyOfNothingIsAnError(t *testing.T) {
	for name, mws := range map[string][]transport.Middleware{
		"Retry":        {transport.Retry(fast(transport.RetryPolicy{}))},
		"Hedge, Retry": {transport.Hedge(transport.HedgeOptions{Delay: 1}), transport.Retry(fast(transport.RetryPolicy{}))},
	} {
		t.Run(name, func(t *testing.T) {
			srv := htu.NewServer(t, htu.Status(http.StatusServiceUnavailable), htu.OK("done"))
			rt := transport.Chain(pooledBase(t), mws...)
			req := newRequest(t, context.Background(), http.MethodPut, srv.URL, strings.NewReader("payload"))
			req.GetBody = func() (io.ReadCloser, error) { return nil, nil }
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			readAll(t, resp)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the attempt it had, as it came")
			assert.Equal(t, 1, srv.Count(), "nothing sent without a body")
		})
	}
}
