package idempotency_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/idempotency"
)

// payments is a handler with an effect to count: each run charges once.
type payments struct {
	runs   atomic.Int32
	bodies sync.Map // body → times seen
	answer func(w http.ResponseWriter, r *http.Request, body string)
}

func (p *payments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	n := p.runs.Add(1)
	v, _ := p.bodies.LoadOrStore(string(b), new(atomic.Int32))
	v.(*atomic.Int32).Add(1)
	if p.answer != nil {
		p.answer(w, r, string(b))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Charge", fmt.Sprint(n))
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"charged":%q,"run":%d}`, b, n)
}

// serve starts a real server with the middleware over h.
func serve(t *testing.T, o idempotency.Options, h http.Handler) *htu.Server {
	t.Helper()
	return htu.NewServer(t, idempotency.Middleware(o)(h))
}

type result struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, url, key, body string, header ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return result{resp.StatusCode, resp.Header, string(b)}
}

// sendPast409 POSTs body with key to url until the answer is no longer 409
// (the key in progress), for at most 5 s, and returns that answer.
func sendPast409(t *testing.T, url, key, body, why string) result {
	t.Helper()
	var r result
	require.Eventually(t, func() bool {
		r = send(t, http.MethodPost, url, key, body)
		return r.status != http.StatusConflict
	}, 5*time.Second, 10*time.Millisecond, why)
	return r
}

func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// problemType returns the fragment of a problem+json answer's type.
func problemType(t *testing.T, r result) string {
	t.Helper()
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), r.body)
	var p struct {
		Type   string
		Status int
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &p))
	assert.Equal(t, r.status, p.Status)
	return strings.TrimPrefix(p.Type, idempotency.ProblemBase)
}

func TestFirstRequestRunsDuplicatesReplay(t *testing.T) {
	var p payments
	var replayed atomic.Int32
	srv := serve(t, idempotency.Options{OnReplay: func(r *http.Request) {
		assert.Equal(t, "k1", r.Header.Get("Idempotency-Key"))
		replayed.Add(1)
	}}, &p)
	first := send(t, http.MethodPost, srv.URL+"/pay?x=1", "k1", "10 EUR")
	require.Equal(t, http.StatusCreated, first.status)
	for range 3 {
		again := send(t, http.MethodPost, srv.URL+"/pay?x=1", "k1", "10 EUR")
		assert.Equal(t, first.status, again.status)
		assert.Equal(t, first.body, again.body, "byte for byte")
		assert.Equal(t, "1", again.header.Get("X-Charge"))
		assert.Equal(t, "application/json", again.header.Get("Content-Type"))
		assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	}
	assert.Empty(t, first.header.Get("Idempotent-Replayed"))
	assert.Equal(t, int32(1), p.runs.Load())
	assert.Equal(t, int32(3), replayed.Load(), "OnReplay saw each replay")

	other := send(t, http.MethodPost, srv.URL+"/pay?x=1", "k2", "10 EUR")
	assert.Equal(t, http.StatusCreated, other.status)
	assert.Equal(t, int32(2), p.runs.Load(), "another key runs again")
}

func TestKeyReusedWithAnotherRequest(t *testing.T) {
	var p payments
	srv := serve(t, idempotency.Options{}, &p)
	require.Equal(t, http.StatusCreated, send(t, http.MethodPost, srv.URL+"/pay", "k", "10").status)
	for name, r := range map[string]result{
		"body":   send(t, http.MethodPost, srv.URL+"/pay", "k", "11"),
		"path":   send(t, http.MethodPost, srv.URL+"/refund", "k", "10"),
		"query":  send(t, http.MethodPost, srv.URL+"/pay?currency=USD", "k", "10"),
		"method": send(t, http.MethodPatch, srv.URL+"/pay", "k", "10"),
	} {
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, name)
		assert.Equal(t, idempotency.ProblemKeyReused, problemType(t, r), name)
	}
	assert.Equal(t, int32(1), p.runs.Load())
}

func TestConcurrentDuplicateGets409(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		close(started)
		<-release
		w.WriteHeader(http.StatusCreated)
	}}
	srv := serve(t, idempotency.Options{RetryAfter: 2 * time.Second}, &p)
	done := make(chan result)
	go func() { done <- send(t, http.MethodPost, srv.URL, "k", "x") }()
	<-started
	dup := send(t, http.MethodPost, srv.URL, "k", "x")
	assert.Equal(t, http.StatusConflict, dup.status)
	assert.Equal(t, "2", dup.header.Get("Retry-After"))
	assert.Equal(t, idempotency.ProblemKeyInUse, problemType(t, dup))
	close(release)
	assert.Equal(t, http.StatusCreated, (<-done).status)
	assert.Equal(t, int32(1), p.runs.Load())
}

func TestMalformedAndMissingKeys(t *testing.T) {
	var p payments
	srv := serve(t, idempotency.Options{Required: true}, &p)
	for name, r := range map[string]result{
		"empty":        send(t, http.MethodPost, srv.URL, "", "x", "Idempotency-Key", ""),
		"too long":     send(t, http.MethodPost, srv.URL, strings.Repeat("k", idempotency.MaxKeyLength+1), "x"),
		"tab":          send(t, http.MethodPost, srv.URL, "a\tb", "x"),
		"not ASCII":    send(t, http.MethodPost, srv.URL, "ключ", "x"),
		"header twice": send(t, http.MethodPost, srv.URL, "a", "x", "Idempotency-Key", "b"),
	} {
		assert.Equal(t, http.StatusBadRequest, r.status, name)
		assert.Equal(t, idempotency.ProblemInvalidKey, problemType(t, r), name)
	}
	missing := send(t, http.MethodPost, srv.URL, "", "x")
	assert.Equal(t, http.StatusBadRequest, missing.status)
	assert.Equal(t, idempotency.ProblemMissingKey, problemType(t, missing))
	assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, srv.URL, strings.Repeat("k", idempotency.MaxKeyLength), "x").status)
	assert.Equal(t, int32(1), p.runs.Load())

	optional := serve(t, idempotency.Options{}, &p)
	send(t, http.MethodPost, optional.URL, "", "x")
	send(t, http.MethodPost, optional.URL, "", "x")
	assert.Equal(t, int32(3), p.runs.Load(), "without Required, a keyless request runs unprotected")
}

func TestUncoveredMethodsPassThrough(t *testing.T) {
	var p payments
	srv := serve(t, idempotency.Options{}, &p)
	send(t, http.MethodGet, srv.URL, "k", "")
	send(t, http.MethodGet, srv.URL, "k", "")
	send(t, http.MethodPut, srv.URL, "k", "x")
	assert.Equal(t, int32(3), p.runs.Load())
}

// A 5xx or a panic releases the key: the client's retry runs the handler
// again, and its success is what is stored.
func TestFailuresReleaseTheKey(t *testing.T) {
	for name, fail := range map[string]func(http.ResponseWriter){
		"5xx":   func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
		"panic": func(http.ResponseWriter) { panic(http.ErrAbortHandler) },
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
				if calls.Add(1) == 1 {
					fail(w)
					return
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, "ok")
			}}
			srv := serve(t, idempotency.Options{}, &p)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
			req.Header.Set("Idempotency-Key", "k")
			if resp, err := client(t).Do(req); err == nil {
				resp.Body.Close()
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			}
			for range 2 {
				r := send(t, http.MethodPost, srv.URL, "k", "x")
				assert.Equal(t, http.StatusCreated, r.status)
				assert.Equal(t, "ok", r.body)
			}
			assert.Equal(t, int32(2), p.runs.Load(), "the retry ran once more, then was replayed")
		})
	}
}

// A handler's own 429 is a refusal, as the client's contract reads it: it
// releases the key, so that the retry runs the handler, instead of meeting
// the stored 429 for the key's whole TTL (issue 33, item 2).
func TestARefusalReleasesTheKey(t *testing.T) {
	var calls atomic.Int32
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "ok")
	}}
	srv := serve(t, idempotency.Options{}, &p)
	assert.Equal(t, http.StatusTooManyRequests, send(t, http.MethodPost, srv.URL, "k", "x").status)
	for range 2 {
		r := send(t, http.MethodPost, srv.URL, "k", "x")
		assert.Equal(t, http.StatusCreated, r.status)
		assert.Equal(t, "ok", r.body)
	}
	assert.Equal(t, int32(2), p.runs.Load(), "the retry ran once more, then was replayed")
}

// Behind an outer http.MaxBytesHandler, a keyed POST whose body is too
// large gets 413, and a body that cannot be read 400; the handler never
// runs (issue 33, item 3: it got an empty 200 from a handler that never ran).
func TestABodyThatCannotBeReadIsAnswered(t *testing.T) {
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		w.WriteHeader(http.StatusCreated)
	}}
	t.Run("over an outer MaxBytesHandler", func(t *testing.T) {
		srv := httptest.NewServer(http.MaxBytesHandler(idempotency.Middleware(idempotency.Options{})(&p), 10))
		t.Cleanup(srv.Close)
		r := send(t, http.MethodPost, srv.URL, "k", strings.Repeat("x", 100))
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		assert.Contains(t, r.body, idempotency.ProblemBase+idempotency.ProblemBodyTooLarge)
	})
	t.Run("a read that fails", func(t *testing.T) {
		h := idempotency.Middleware(idempotency.Options{})(&p)
		req := httptest.NewRequest(http.MethodPost, "/pay", io.MultiReader(strings.NewReader("x"), iotest.ErrReader(errors.New("reset"))))
		req.Header.Set("Idempotency-Key", "k2")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Contains(t, rec.Body.String(), idempotency.ProblemBase+idempotency.ProblemUnreadableBody)
	})
	assert.Zero(t, p.runs.Load(), "the handler never ran")
}

// 4xx answers are stored like successes: the request was judged, not lost.
func TestClientErrorsAreStored(t *testing.T) {
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		http.Error(w, "card declined", http.StatusPaymentRequired)
	}}
	srv := serve(t, idempotency.Options{}, &p)
	first := send(t, http.MethodPost, srv.URL, "k", "x")
	again := send(t, http.MethodPost, srv.URL, "k", "x")
	assert.Equal(t, http.StatusPaymentRequired, again.status)
	assert.Equal(t, first.body, again.body)
	assert.Equal(t, int32(1), p.runs.Load())
}

func TestOversizedBodies(t *testing.T) {
	big := strings.Repeat("r", 2000)
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		_, _ = io.WriteString(w, big)
	}}
	srv := serve(t, idempotency.Options{MaxRequestBytes: 100, MaxResponseBytes: 1000}, &p)

	tooBig := send(t, http.MethodPost, srv.URL, "k1", strings.Repeat("x", 101))
	assert.Equal(t, http.StatusRequestEntityTooLarge, tooBig.status)
	assert.Equal(t, idempotency.ProblemBodyTooLarge, problemType(t, tooBig))
	assert.Zero(t, p.runs.Load(), "nothing ran")

	first := send(t, http.MethodPost, srv.URL, "k2", "x")
	assert.Equal(t, big, first.body, "a response over the cap is delivered whole")
	dup := send(t, http.MethodPost, srv.URL, "k2", "x")
	assert.Equal(t, http.StatusGone, dup.status)
	assert.Equal(t, idempotency.ProblemResponseNotStored, problemType(t, dup))
	assert.Equal(t, int32(1), p.runs.Load(), "never a second run")
}

// The handler sees the request body intact, and its response reaches the
// client as it is written, before the handler returns.
func TestBodiesPassThroughAndStream(t *testing.T) {
	proceed := make(chan struct{})
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		_, _ = io.WriteString(w, "got "+body+"; ")
		w.(http.Flusher).Flush()
		<-proceed
		_, _ = io.WriteString(w, "done")
	}}
	srv := serve(t, idempotency.Options{}, &p)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("the order"))
	req.Header.Set("Idempotency-Key", "k")
	resp, err := client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, len("got the order; "))
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, "got the order; ", string(buf), "streamed before the handler returned")
	close(proceed)
	rest, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "done", string(rest))
	assert.Equal(t, "got the order; done", send(t, http.MethodPost, srv.URL, "k", "the order").body)
}

// failingStore fails every call.
type failingStore struct{}

var errDown = errors.New("store down")

func (failingStore) Begin(context.Context, string, idempotency.Record, time.Duration) (idempotency.Record, bool, error) {
	return idempotency.Record{}, false, errDown
}
func (failingStore) Complete(context.Context, string, string, *idempotency.Response, time.Duration) error {
	return errDown
}
func (failingStore) Release(context.Context, string, string) error { return errDown }

func TestStoreFailure(t *testing.T) {
	var p payments
	quiet := discardLogger()
	closed := serve(t, idempotency.Options{Store: failingStore{}, Logger: quiet}, &p)
	r := send(t, http.MethodPost, closed.URL, "k", "x")
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, idempotency.ProblemStoreUnavailable, problemType(t, r))
	assert.Zero(t, p.runs.Load(), "fail closed: nothing runs unprotected")

	open := serve(t, idempotency.Options{Store: failingStore{}, Logger: quiet, FailOpen: true}, &p)
	assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, open.URL, "k", "x").status)
	assert.Equal(t, int32(1), p.runs.Load())
}

// Keys of different scopes never meet: tenant B cannot read tenant A's
// stored response by sending A's key.
func TestScopesKeepTenantsApart(t *testing.T) {
	var p payments
	srv := serve(t, idempotency.Options{Scope: func(r *http.Request) string { return r.Header.Get("X-Tenant") }}, &p)
	a := send(t, http.MethodPost, srv.URL, "shared-key", "x", "X-Tenant", "A")
	b := send(t, http.MethodPost, srv.URL, "shared-key", "x", "X-Tenant", "B")
	assert.Equal(t, http.StatusCreated, b.status)
	assert.Empty(t, b.header.Get("Idempotent-Replayed"), "B's request ran for B")
	assert.NotEqual(t, a.body, b.body)
	assert.Equal(t, a.body, send(t, http.MethodPost, srv.URL, "shared-key", "x", "X-Tenant", "A").body)
	assert.Equal(t, int32(2), p.runs.Load())
}

// A handler that outlives its lease cannot overwrite the record of the
// request that took the key after it.
func TestStaleRunCannotOverwrite(t *testing.T) {
	slow := make(chan struct{})
	var calls atomic.Int32
	p := payments{answer: func(w http.ResponseWriter, r *http.Request, body string) {
		n := calls.Add(1)
		if n == 1 {
			<-slow // stalls past its lease
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "run %d", n)
	}}
	srv := serve(t, idempotency.Options{Lease: 50 * time.Millisecond, Logger: discardLogger()}, &p)
	done := make(chan result)
	go func() { done <- send(t, http.MethodPost, srv.URL, "k", "x") }()
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	second := sendPast409(t, srv.URL, "k", "x", "the lease expires and a duplicate takes the key")
	assert.Equal(t, "run 2", second.body)
	close(slow)
	assert.Equal(t, "run 1", (<-done).body, "the stale run still answers its own client")
	assert.Equal(t, "run 2", send(t, http.MethodPost, srv.URL, "k", "x").body, "the record is the second run's")
}
