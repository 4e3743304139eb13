package transport_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

func hostOf(t *testing.T, s *htu.Server) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	require.NoError(t, err)
	return u.Host
}

func TestFailoverToTheNextHost(t *testing.T) {
	a := htu.NewServer(t, htu.Status(503))
	b := htu.NewServer(t, htu.OK("from b"))
	client, _ := newRetrying(t, fast(transport.RetryPolicy{Hosts: []string{hostOf(t, a), hostOf(t, b)}}))
	req := newRequest(t, context.Background(), http.MethodPut, a.URL+"/item?x=1", strings.NewReader("v"))
	before := snap(req)
	resp, err := client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, "from b", readAll(t, resp))
	assert.Equal(t, 1, a.Count())
	require.Equal(t, 1, b.Count())
	got := b.Requests()[0]
	assert.Equal(t, "/item", got.URL.Path)
	assert.Equal(t, "x=1", got.URL.RawQuery)
	assert.Equal(t, "v", string(got.Body))
	requireUnchanged(t, req, before)
}

func TestFailoverPastAnOpenCircuit(t *testing.T) {
	a := htu.NewServer(t, htu.Status(503))
	b := htu.NewServer(t, htu.OK("from b"))
	base := pooledBase(t)
	rt := transport.Chain(base,
		transport.Retry(fast(transport.RetryPolicy{Hosts: []string{hostOf(t, a), hostOf(t, b)}})),
		transport.Breaker(transport.BreakerOptions{MinRequests: 1}))
	client := &http.Client{Transport: rt}

	resp, err := client.Get(a.URL) // a fails: its circuit opens; the retry goes to b
	require.NoError(t, err)
	readAll(t, resp)

	// A POST without a key is not retried once sent; an open circuit
	// proves it was not, so it goes on to b.
	resp, err = client.Post(a.URL+"/pay", "text/plain", strings.NewReader("10"))
	require.NoError(t, err)
	assert.Equal(t, "from b", readAll(t, resp))
	assert.Equal(t, 1, a.Count(), "a saw only the first GET")
	reqs := b.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "10", string(reqs[1].Body))
}

func TestFailoverHostsAreValidated(t *testing.T) {
	assert.Panics(t, func() { transport.Retry(transport.RetryPolicy{Hosts: []string{"https://a.example"}}) })
}
