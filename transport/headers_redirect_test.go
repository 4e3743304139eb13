package transport_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// A redirect to another host gets none of Headers' static or dynamic
// fields: http.Client drops Authorization on such a redirect, and the layer
// must not put it back (issue 33: a presigned download's host received the
// API token). A redirect to the same host, or to one of HeaderOptions.Hosts,
// gets them; the attempt number goes everywhere.
func TestHeadersStayWithTheirHost(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sameHost  bool
		listed    bool
		wantToken bool
	}{
		{"redirect to another host", false, false, false},
		{"redirect to a listed host", false, true, true},
		{"redirect on the same host", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan http.Header, 2)
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r.Header.Clone()
			}))
			t.Cleanup(target.Close)
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/there" {
					seen <- r.Header.Clone()
					return
				}
				to := target.URL + "/file"
				if tc.sameHost {
					to = "/there"
				}
				http.Redirect(w, r, to, http.StatusFound)
			}))
			t.Cleanup(origin.Close)
			o := transport.HeaderOptions{
				Static:        http.Header{"Authorization": {"Bearer api-token"}},
				Dynamic:       func(*http.Request) (http.Header, error) { return http.Header{"X-Signature": {"sig"}}, nil },
				AttemptHeader: "Retry-Attempt",
			}
			if tc.listed {
				o.Hosts = []string{strings.TrimPrefix(target.URL, "http://")}
			}
			base := pooledBase(t)
			client := &http.Client{Transport: transport.Chain(base, transport.Headers(o))}
			req := newRequest(t, context.Background(), http.MethodGet, origin.URL+"/start", nil)
			before := snap(req)
			resp, err := client.Do(req)
			require.NoError(t, err)
			readAll(t, resp)
			requireUnchanged(t, req, before)
			got := <-seen
			if tc.wantToken {
				assert.Equal(t, "Bearer api-token", got.Get("Authorization"))
				assert.Equal(t, "sig", got.Get("X-Signature"))
			} else {
				assert.Empty(t, got.Values("Authorization"), "the token stayed with its host")
				assert.Empty(t, got.Values("X-Signature"), "Dynamic was not asked for another host")
			}
			assert.Equal(t, "1", got.Get("Retry-Attempt"))
		})
	}
}
