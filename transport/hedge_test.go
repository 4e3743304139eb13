package transport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	htu "github.com/rtchain/rtchain/httptestutil"
	"github.com/rtchain/rtchain/transport"
)

// slowFirst is a server whose first request waits until it is cancelled
// (or 5 s) and whose others answer at once with their number; it counts
// the first request's cancellation.
type slowFirst struct {
	n         atomic.Int64
	cancelled chan struct{}
	bodies    sync.Map // request number → sha256 of its body
}

func newSlowFirst() *slowFirst { return &slowFirst{cancelled: make(chan struct{})} }

func (s *slowFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.n.Add(1)
	b, _ := io.ReadAll(r.Body)
	s.bodies.Store(n, sha256.Sum256(b))
	if n == 1 {
		select {
		case <-r.Context().Done():
			close(s.cancelled)
			return
		case <-time.After(5 * time.Second):
		}
	}
	_, _ = io.WriteString(w, "attempt "+string(rune('0'+n)))
}

func hedged(base http.RoundTripper, o transport.HedgeOptions) *http.Client {
	return &http.Client{Transport: transport.Chain(base, transport.Hedge(o))}
}

func TestHedgeCutsTheTail(t *testing.T) {
	for name, tls := range map[string]bool{"HTTP/1.1": false, "HTTP/2": true} {
		t.Run(name, func(t *testing.T) {
			s := newSlowFirst()
			var srv *htu.Server
			var base http.RoundTripper = &http.Transport{}
			if tls {
				srv = htu.NewTLSServer(t, s)
				base = srv.Client().Transport
			} else {
				srv = htu.NewServer(t, s)
			}
			var events []transport.HedgeEvent
			var mu sync.Mutex
			client := hedged(base, transport.HedgeOptions{Delay: 20 * time.Millisecond, OnHedge: func(e transport.HedgeEvent) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}})
			body := bytes.Repeat([]byte("x"), 64<<10) // a 64 KiB PUT: each attempt gets all of it
			req, err := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(body))
			require.NoError(t, err)
			begun := time.Now()
			resp, err := client.Do(req)
			require.NoError(t, err)
			assert.Equal(t, "attempt 2", readAll(t, resp))
			if tls {
				assert.Equal(t, 2, resp.ProtoMajor)
			}
			assert.Less(t, time.Since(begun), 2*time.Second, "the hedge answered, not the slow first attempt")
			<-s.cancelled // the loser was cancelled
			want := sha256.Sum256(body)
			for n := int64(1); n <= 2; n++ {
				got, ok := s.bodies.Load(n)
				require.True(t, ok)
				assert.Equal(t, want, got, "attempt %d got the whole body", n)
			}
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, events, 2)
			assert.False(t, events[0].Won)
			assert.Equal(t, 2, events[0].Attempt)
			assert.True(t, events[1].Won)
			assert.Equal(t, 2, events[1].Attempt)
		})
	}
}

func TestHedgeOnlyWhatMayBeSentTwice(t *testing.T) {
	for name, c := range map[string]struct {
		method string
		key    bool
		body   func() io.Reader
		hedged bool
	}{
		"POST without a key":                {http.MethodPost, false, func() io.Reader { return strings.NewReader("x") }, false},
		"POST with an Idempotency-Key":      {http.MethodPost, true, func() io.Reader { return strings.NewReader("x") }, true},
		"PUT of a reader of unknown length": {http.MethodPut, false, func() io.Reader { return io.MultiReader(strings.NewReader("x")) }, true},
		"POST of a reader, no key":          {http.MethodPost, false, func() io.Reader { return io.MultiReader(strings.NewReader("x")) }, false},
		"GET":                               {http.MethodGet, false, func() io.Reader { return nil }, true},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSlowFirst()
			srv := htu.NewServer(t, s)
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			client := hedged(tr, transport.HedgeOptions{Delay: 10 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, c.method, srv.URL, c.body())
			require.NoError(t, err)
			if c.key {
				req.Header.Set("Idempotency-Key", "k")
			}
			before := req.Header.Clone()
			resp, err := client.Do(req)
			if c.hedged {
				require.NoError(t, err)
				assert.Equal(t, "attempt 2", readAll(t, resp))
			} else {
				require.Error(t, err, "not hedged: the slow attempt ran into the deadline")
				assert.Equal(t, int64(1), s.n.Load())
			}
			assert.Equal(t, before, req.Header, "the caller's request is not modified")
		})
	}
}

func TestHedgeGoesToTheNextHost(t *testing.T) {
	slow, fast := newSlowFirst(), htu.NewServer(t, htu.OK("other host"))
	srv := htu.NewServer(t, slow)
	hosts := []string{hostOf(t, srv), hostOf(t, fast)}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := hedged(tr, transport.HedgeOptions{Delay: 10 * time.Millisecond, Hosts: hosts})
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "other host", readAll(t, resp))
	<-slow.cancelled
}

func TestHedgeBudgetBoundsTheLoad(t *testing.T) {
	// A host slow for everyone: every attempt takes 30 ms, well past the
	// delay. Without a budget each call would be sent twice.
	var requests atomic.Int64
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-time.After(30 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	var hedges atomic.Int64
	client := hedged(tr, transport.HedgeOptions{Delay: 5 * time.Millisecond,
		OnHedge: func(e transport.HedgeEvent) {
			if !e.Won {
				hedges.Add(1)
			}
		}})
	const calls = 100
	for range calls {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		_ = readAll(t, resp)
	}
	assert.LessOrEqual(t, hedges.Load(), int64(calls/10+10), "10% of calls, and a bank of 10")
	assert.Positive(t, hedges.Load())
}

func TestHedgeAdaptiveDelay(t *testing.T) {
	var n atomic.Int64
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 31 { // after 30 fast answers, a slow one
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	// A delay of a minute would never hedge in time; the host's p95 does.
	client := hedged(tr, transport.HedgeOptions{Delay: time.Minute, Percentile: 0.95, Budget: 0.5})
	for range 30 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		_ = readAll(t, resp)
	}
	begun := time.Now()
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "ok", readAll(t, resp))
	assert.Less(t, time.Since(begun), 2*time.Second, "hedged after the host's p95, not the minute")
}

// NewClientWith puts Hedge above Retry: the hedge's own 503 is retried,
// and the slow first attempt loses.
func TestClientOptionsHedge(t *testing.T) {
	var n atomic.Int64
	srv := htu.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			<-r.Context().Done() // slow, until the winner cancels it
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable) // the hedge's first try
		default:
			_, _ = io.WriteString(w, "retried hedge")
		}
	}))
	client := transport.NewClientWith(transport.ClientOptions{
		Hedge: transport.HedgeOptions{Delay: 20 * time.Millisecond},
		Retry: transport.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
	})
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "retried hedge", readAll(t, resp))
	assert.Equal(t, int64(3), n.Load())
}

// Logging says how many hedges a call sent and which attempt won; the
// attempts' events reach a Trace one at a time.
func TestHedgeIsLogged(t *testing.T) {
	s := newSlowFirst()
	srv := htu.NewServer(t, s)
	var logs bytes.Buffer
	var mu sync.Mutex
	client := transport.NewClientWith(transport.ClientOptions{
		Log:   transport.LogOptions{Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		Hedge: transport.HedgeOptions{Delay: 10 * time.Millisecond},
	})
	t.Cleanup(client.CloseIdleConnections)
	var events atomic.Int64
	ctx := transport.WithTrace(context.Background(), &transport.Trace{
		Hedge: func(transport.HedgeEvent) { events.Add(1) },
		CallEnd: func(e transport.CallEndEvent) {
			assert.Equal(t, 1, e.Hedges)
			assert.Equal(t, 2, e.Won)
			assert.Equal(t, 2, e.Attempts)
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	assert.Equal(t, "attempt 2", readAll(t, resp))
	assert.Equal(t, int64(2), events.Load(), "the hedge, and the win")
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), "hedges=1 won=2")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// closeCounter is a caller's body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closes atomic.Int32
}

func (c *closeCounter) Close() error { c.closes.Add(1); return nil }

// A body without GetBody, of known length up to Body.Limit, is read once,
// into a record every attempt reads all of; a longer one is not hedged.
func TestHedgeCopiesASmallPlainBody(t *testing.T) {
	for name, c := range map[string]struct {
		size   int
		hedged bool
	}{"64 KiB, the limit": {64 << 10, true}, "over the limit": {64<<10 + 1, false}} {
		t.Run(name, func(t *testing.T) {
			s := newSlowFirst()
			srv := htu.NewServer(t, s)
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			client := hedged(tr, transport.HedgeOptions{Delay: 10 * time.Millisecond})
			payload := bytes.Repeat([]byte("y"), c.size)
			body := &closeCounter{Reader: bytes.NewReader(payload)}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, body)
			require.NoError(t, err)
			req.ContentLength = int64(c.size)
			resp, err := client.Do(req)
			if !c.hedged {
				require.Error(t, err, "not hedged: the slow attempt ran into the deadline")
				assert.Equal(t, int64(1), s.n.Load())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "attempt 2", readAll(t, resp))
			want := sha256.Sum256(payload)
			for n := int64(1); n <= 2; n++ {
				got, _ := s.bodies.Load(n)
				assert.Equal(t, want, got, "attempt %d got the whole body", n)
			}
			// The caller's body is closed once the losing attempt's transport
			// has closed its cursor too.
			require.Eventually(t, func() bool { return body.closes.Load() == 1 }, 5*time.Second, time.Millisecond)
			assert.Equal(t, int32(1), body.closes.Load(), "the caller's body is closed once")
			assert.Nil(t, req.GetBody, "the caller's request is not modified")
		})
	}
}
