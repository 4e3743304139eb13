package transport_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// WithoutHedge keeps a call to one attempt at a time, where Hedge would
// send a second after its delay; WithRepeatable makes a POST hedgeable, as
// a key does.
func TestWithoutHedgeAndRepeatableHedges(t *testing.T) {
	bg := context.Background()
	for _, tc := range []struct {
		name     string
		method   string
		ctx      context.Context
		attempts int32
		took     time.Duration
	}{
		{"a GET is hedged", http.MethodGet, bg, 2, 100 * time.Millisecond},
		{"a GET WithoutHedge", http.MethodGet, transport.WithoutHedge(bg), 1, time.Second},
		{"a POST is not", http.MethodPost, bg, 1, time.Second},
		{"a POST WithRepeatable is", http.MethodPost, transport.WithRepeatable(bg), 2, 100 * time.Millisecond},
		{"a POST WithRepeatable, WithoutHedge", http.MethodPost, transport.WithoutHedge(transport.WithRepeatable(bg)), 1, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var n atomic.Int32
				base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
					if n.Add(1) == 1 {
						select { // the first attempt is slow
						case <-time.After(time.Second):
						case <-req.Context().Done():
							return nil, req.Context().Err()
						}
					}
					resp := answer(http.StatusOK)()
					resp.Request = req
					return resp, nil
				})
				rt := transport.Chain(base, transport.Hedge(transport.HedgeOptions{Delay: 100 * time.Millisecond}))
				req := newRequest(t, tc.ctx, tc.method, "http://api.test/search", strings.NewReader(`{"q":"boots"}`))
				start := time.Now()
				resp, err := rt.RoundTrip(req)
				require.NoError(t, err)
				readAll(t, resp)
				assert.Equal(t, tc.took, time.Since(start))
				synctest.Wait() // the losing attempt has ended
				assert.Equal(t, tc.attempts, n.Load())
			})
		})
	}
}
