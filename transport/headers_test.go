package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// chainClient returns a client over a fresh pooled transport with mws.
func chainClient(t *testing.T, mws ...transport.Middleware) *http.Client {
	t.Helper()
	return &http.Client{Transport: transport.Chain(pooledBase(t), mws...)}
}

func TestHeadersStatic(t *testing.T) {
	srv := htu.NewServer(t)
	client := chainClient(t, transport.Headers(transport.HeaderOptions{Static: http.Header{
		"user-agent": {"rtchain-test/1"}, "X-Api-Version": {"2024-01-01"},
	}}))
	req := newRequest(t, context.Background(), http.MethodGet, srv.URL, nil)
	req.Header.Set("X-Api-Version", "caller-wins")
	before := snap(req)
	resp, err := client.Do(req)
	require.NoError(t, err)
	readAll(t, resp)
	got := srv.Requests()[0].Header
	assert.Equal(t, "rtchain-test/1", got.Get("User-Agent"))
	assert.Equal(t, "caller-wins", got.Get("X-Api-Version"), "a field the caller set is kept")
	requireUnchanged(t, req, before)
}

func TestHeadersPerAttempt(t *testing.T) {
	srv := htu.NewServer(t, htu.Status(503), htu.Status(503), htu.OK(""))
	var tokens int
	client := chainClient(t,
		transport.Retry(fast(transport.RetryPolicy{})),
		transport.Headers(transport.HeaderOptions{
			Dynamic: func(*http.Request) (http.Header, error) {
				tokens++
				return http.Header{"Authorization": {fmt.Sprintf("Bearer token-%d", tokens)}}, nil
			},
			AttemptHeader: "retry-attempt",
		}))
	body := newTrackedBody(strings.NewReader("data"))
	req := newRequest(t, context.Background(), http.MethodPut, srv.URL, body)
	before := snap(req)
	resp, err := client.Do(req)
	require.NoError(t, err)
	readAll(t, resp)
	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, fmt.Sprintf("Bearer token-%d", i+1), r.Header.Get("Authorization"), "a fresh token per attempt")
		assert.Equal(t, fmt.Sprint(i+1), r.Header.Get("Retry-Attempt"))
		assert.Equal(t, "data", string(r.Body))
	}
	requireUnchanged(t, req, before)
	requireClosedOnce(t, body)
}

func TestHeadersDynamicError(t *testing.T) {
	srv := htu.NewServer(t)
	boom := errors.New("token service down")
	client := chainClient(t, transport.Headers(transport.HeaderOptions{
		Dynamic: func(*http.Request) (http.Header, error) { return nil, boom },
	}))
	body := newTrackedBody(strings.NewReader("data"))
	_, err := client.Do(newRequest(t, context.Background(), http.MethodPut, srv.URL, body))
	require.ErrorIs(t, err, boom)
	assert.Zero(t, srv.Count())
	requireClosedOnce(t, body)
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestIdempotencyKeys(t *testing.T) {
	t.Run("one key per call, the same on every attempt", func(t *testing.T) {
		srv := htu.NewServer(t, htu.Status(503), htu.Status(503), htu.OK(""))
		client := chainClient(t, transport.IdempotencyKeys(), transport.Retry(fast(transport.RetryPolicy{})))
		req := newRequest(t, context.Background(), http.MethodPost, srv.URL, strings.NewReader(`{"amount":1}`))
		before := snap(req)
		resp, err := client.Do(req)
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the key made the POST retryable")
		reqs := srv.Requests()
		require.Len(t, reqs, 3)
		key := reqs[0].Header.Get("Idempotency-Key")
		assert.Regexp(t, uuidV4, key)
		for _, r := range reqs {
			assert.Equal(t, key, r.Header.Get("Idempotency-Key"))
		}
		requireUnchanged(t, req, before)
		assert.Empty(t, req.Header.Get("Idempotency-Key"))
	})
	t.Run("a fresh key per call", func(t *testing.T) {
		srv := htu.NewServer(t)
		client := chainClient(t, transport.IdempotencyKeys())
		for range 2 {
			resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("x"))
			require.NoError(t, err)
			readAll(t, resp)
		}
		reqs := srv.Requests()
		assert.NotEqual(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
	})
	t.Run("the caller's key and other methods are left alone", func(t *testing.T) {
		srv := htu.NewServer(t)
		client := chainClient(t, transport.IdempotencyKeys())
		for _, tc := range []struct{ method, header, value string }{
			{http.MethodPatch, "Idempotency-Key", "mine"},
			{http.MethodPost, "X-Idempotency-Key", "legacy"},
			{http.MethodGet, "", ""}, {http.MethodPut, "", ""}, {http.MethodDelete, "", ""},
		} {
			req := newRequest(t, context.Background(), tc.method, srv.URL, nil)
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			readAll(t, resp)
		}
		reqs := srv.Requests()
		assert.Equal(t, "mine", reqs[0].Header.Get("Idempotency-Key"))
		assert.Empty(t, reqs[1].Header.Get("Idempotency-Key"))
		assert.Equal(t, "legacy", reqs[1].Header.Get("X-Idempotency-Key"))
		for _, r := range reqs[2:] {
			assert.Empty(t, r.Header.Get("Idempotency-Key"), r.Method)
		}
	})
}

// Headers allocates what a copy of the request must have, and no more: the
// request, with the values of its fields in the same allocation, and its
// header map (two allocations in Go's maps).
func TestHeadersAllocatesTheRequestCopyOnly(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var sent *http.Request
	errNotSent := errors.New("not sent")
	base := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		sent = req
		return nil, errNotSent
	})
	rt := transport.Headers(transport.HeaderOptions{Static: http.Header{"User-Agent": {"rtchain"}}})(base)
	req, err := http.NewRequest(http.MethodGet, "http://a.test/", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Trace", "1")
	req.Header.Add("X-Trace", "2")
	allocs := testing.AllocsPerRun(100, func() { _, _ = rt.RoundTrip(req) })
	assert.LessOrEqual(t, allocs, 3.0)
	assert.Equal(t, http.Header{"Accept": {"application/json"}, "X-Trace": {"1", "2"}, "User-Agent": {"rtchain"}}, sent.Header)
	assert.Equal(t, http.Header{"Accept": {"application/json"}, "X-Trace": {"1", "2"}}, req.Header, "the caller's request is untouched")
}
