package transport

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// What Hedge may send twice at once: what may be repeated, unless the call
// says WithoutHedge.
func TestMayHedge(t *testing.T) {
	bg := context.Background()
	for _, tc := range []struct {
		name   string
		method string
		key    bool
		ctx    context.Context
		repeat bool
		hedge  bool
	}{
		{"GET", http.MethodGet, false, bg, true, true},
		{"POST", http.MethodPost, false, bg, false, false},
		{"a keyed POST", http.MethodPost, true, bg, true, true},
		{"a repeatable POST", http.MethodPost, false, WithRepeatable(bg), true, true},
		{"a GET without hedging", http.MethodGet, false, WithoutHedge(bg), true, false},
		{"a repeatable POST without hedging", http.MethodPost, false, WithoutHedge(WithRepeatable(bg)), true, false},
		{"other settings", http.MethodPost, false, WithMaxRetries(bg, 1), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(tc.ctx, tc.method, "http://api.test/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.key {
				req.Header.Set("Idempotency-Key", "k")
			}
			assert.Equal(t, tc.repeat, mayRepeat(req))
			assert.Equal(t, tc.hedge, mayHedge(req))
		})
	}
}
