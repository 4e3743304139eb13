package idempotency_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
)

// outcomeLog keeps what OnOutcome was told, and checks that each report
// comes with the request as the client sent it.
type outcomeLog struct {
	t   *testing.T
	mu  sync.Mutex
	got []idempotency.Outcome
}

func (l *outcomeLog) record(r *http.Request, o idempotency.Outcome) {
	assert.Equal(l.t, "/pay", r.URL.Path, "the request as received")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, o)
}

func (l *outcomeLog) outcomes() []idempotency.Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]idempotency.Outcome(nil), l.got...)
}

// beginFails is a store whose Begin fails; its Release finds nothing to
// free (the record was never written), so that no test waits for settle.
type beginFails struct{ idempotency.Store }

func (beginFails) Begin(context.Context, string, idempotency.Record, time.Duration) (idempotency.Record, bool, error) {
	return idempotency.Record{}, false, errDown
}

func (beginFails) Release(context.Context, string, string) error { return idempotency.ErrLeaseLost }

// completeFails is a memory store whose Complete answers err.
type completeFails struct {
	idempotency.Store
	err error
}

func (s completeFails) Complete(context.Context, string, string, *idempotency.Response, time.Duration) error {
	return s.err
}

func answerWith(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// sendBroken sends a keyed POST whose chunked body is malformed, over a
// raw connection, and returns the answer's status.
func sendBroken(t *testing.T, raw string) int {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /pay HTTP/1.1\r\nHost: "+u.Host+"\r\nIdempotency-Key: k\r\n"+
		"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// Each way a covered request ends is reported once, with its Outcome;
// requests the middleware lets through are not reported.
func TestOnOutcomeReportsEachRequestOnce(t *testing.T) {
	started, blocked := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cases := []struct {
		name    string
		opts    idempotency.Options
		handler http.Handler
		run     func(t *testing.T, url string)
		want    []idempotency.Outcome
	}{{
		name: "first run, replays", handler: &payments{},
		run: func(t *testing.T, url string) {
			for range 3 {
				send(t, http.MethodPost, url, "k", "x")
			}
		},
		want: []idempotency.Outcome{idempotency.OutcomeFirstRun, idempotency.OutcomeReplayed, idempotency.OutcomeReplayed},
	}, {
		name: "in progress",
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { close(started) })
			<-blocked
		}),
		run: func(t *testing.T, url string) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				send(t, http.MethodPost, url, "k", "x")
			}()
			<-started
			assert.Equal(t, http.StatusConflict, send(t, http.MethodPost, url, "k", "x").status)
			close(blocked)
			<-done
		},
		want: []idempotency.Outcome{idempotency.OutcomeInProgress, idempotency.OutcomeFirstRun},
	}, {
		name: "key reused", handler: &payments{},
		run: func(t *testing.T, url string) {
			send(t, http.MethodPost, url, "k", "x")
			assert.Equal(t, http.StatusUnprocessableEntity, send(t, http.MethodPost, url, "k", "y").status)
		},
		want: []idempotency.Outcome{idempotency.OutcomeFirstRun, idempotency.OutcomeKeyReused},
	}, {
		name: "invalid keys", handler: &payments{},
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusBadRequest, send(t, http.MethodPost, url, `"open`, "x").status)
			assert.Equal(t, http.StatusBadRequest, send(t, http.MethodPost, url, "a", "x", "Idempotency-Key", "b").status)
		},
		want: []idempotency.Outcome{idempotency.OutcomeInvalidKey, idempotency.OutcomeInvalidKey},
	}, {
		name: "missing key, required", opts: idempotency.Options{Required: true}, handler: &payments{},
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusBadRequest, send(t, http.MethodPost, url, "", "x").status)
			send(t, http.MethodGet, url, "", "") // not covered
		},
		want: []idempotency.Outcome{idempotency.OutcomeMissingKey},
	}, {
		name: "passed through", handler: &payments{},
		run: func(t *testing.T, url string) {
			send(t, http.MethodPost, url, "", "x")  // no key, keys optional
			send(t, http.MethodGet, url, "k", "")   // not covered
			send(t, http.MethodPut, url, "k2", "x") // not covered
		},
	}, {
		name: "request body too large", opts: idempotency.Options{MaxRequestBytes: 2}, handler: &payments{},
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusRequestEntityTooLarge, send(t, http.MethodPost, url, "k", "xyz").status)
		},
		want: []idempotency.Outcome{idempotency.OutcomeBodyTooLarge},
	}, {
		name: "unreadable body", handler: &payments{},
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusBadRequest, sendBroken(t, url))
		},
		want: []idempotency.Outcome{idempotency.OutcomeUnreadableBody},
	}, {
		name: "response too large, then not stored", opts: idempotency.Options{MaxResponseBytes: 2},
		handler: answerWith(http.StatusCreated, "too long"),
		run: func(t *testing.T, url string) {
			assert.Equal(t, "too long", send(t, http.MethodPost, url, "k", "x").body)
			assert.Equal(t, http.StatusGone, send(t, http.MethodPost, url, "k", "x").status)
		},
		want: []idempotency.Outcome{idempotency.OutcomeResponseTooLarge, idempotency.OutcomeNotStored},
	}, {
		name: "store unavailable at begin", opts: idempotency.Options{Store: beginFails{}}, handler: &payments{},
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusServiceUnavailable, send(t, http.MethodPost, url, "k", "x").status)
		},
		want: []idempotency.Outcome{idempotency.OutcomeStoreUnavailable},
	}, {
		name: "fail open", opts: idempotency.Options{Store: beginFails{}, FailOpen: true}, handler: &payments{},
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, url, "k", "x").status)
		},
		want: []idempotency.Outcome{idempotency.OutcomeUnprotected},
	}, {
		name:    "lease lost at complete",
		opts:    idempotency.Options{Store: completeFails{idempotency.NewMemoryStore(0, 0), idempotency.ErrLeaseLost}},
		handler: &payments{},
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, url, "k", "x").status)
		},
		want: []idempotency.Outcome{idempotency.OutcomeLeaseLost},
	}, {
		name: "released", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch b, _ := io.ReadAll(r.Body); string(b) {
			case "panic":
				panic(http.ErrAbortHandler)
			case "busy":
				w.WriteHeader(http.StatusTooManyRequests)
			default:
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}),
		run: func(t *testing.T, url string) {
			assert.Equal(t, http.StatusServiceUnavailable, send(t, http.MethodPost, url, "k1", "down").status)
			assert.Equal(t, http.StatusTooManyRequests, send(t, http.MethodPost, url, "k2", "busy").status)
			req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("panic"))
			require.NoError(t, err)
			req.Header.Set("Idempotency-Key", "k3")
			_, err = client(t).Do(req)
			assert.Error(t, err, "the handler's panic cut the connection")
		},
		want: []idempotency.Outcome{idempotency.OutcomeReleased, idempotency.OutcomeReleased, idempotency.OutcomeReleased},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := &outcomeLog{t: t}
			o := c.opts
			o.OnOutcome = log.record
			o.Logger = discardLogger()
			srv := serve(t, o, c.handler)
			c.run(t, srv.URL+"/pay")
			srv.Close() // waits for the handlers: every report is in
			assert.ElementsMatch(t, c.want, log.outcomes())
		})
	}
}

// The store failing at Complete, after the answer went out, is a store
// failure: reported once, after settle gave up.
func TestOnOutcomeStoreFailsAtComplete(t *testing.T) {
	t.Parallel()
	log := &outcomeLog{t: t}
	srv := serve(t, idempotency.Options{
		Store:     completeFails{idempotency.NewMemoryStore(0, 0), errDown},
		OnOutcome: log.record, Logger: discardLogger(),
	}, &payments{})
	assert.Equal(t, http.StatusCreated, send(t, http.MethodPost, srv.URL+"/pay", "k", "x").status)
	srv.Close()
	assert.Equal(t, []idempotency.Outcome{idempotency.OutcomeStoreUnavailable}, log.outcomes())
}

// Under a TxStore, the outcomes follow the transaction: committed, rolled
// back, or its commit refused.
func TestOnOutcomeWithTxStore(t *testing.T) {
	cases := []struct {
		name      string
		commitErr error
		max       int64
		answer    func(w http.ResponseWriter, r *http.Request)
		status    int
		want      idempotency.Outcome
	}{
		{"committed", nil, 0, created, http.StatusCreated, idempotency.OutcomeFirstRun},
		{"rolled back", nil, 0, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) },
			http.StatusBadGateway, idempotency.OutcomeReleased},
		{"lease lost", idempotency.ErrLeaseLost, 0, created, http.StatusConflict, idempotency.OutcomeLeaseLost},
		{"commit failed", errDown, 0, created, http.StatusServiceUnavailable, idempotency.OutcomeStoreUnavailable},
		{"answer too large", nil, 4, created, http.StatusInternalServerError, idempotency.OutcomeResponseTooLarge},
		{"panic", nil, 0, func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, 0, idempotency.OutcomeReleased},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := &outcomeLog{t: t}
			s := &txStore{MemoryStore: idempotency.NewMemoryStore(0, 0), commitErr: c.commitErr}
			srv := serve(t, idempotency.Options{Store: s, MaxResponseBytes: c.max, OnOutcome: log.record, Logger: discardLogger()},
				txCharge(c.answer))
			if c.status == 0 {
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/pay", strings.NewReader("x"))
				require.NoError(t, err)
				req.Header.Set("Idempotency-Key", "k")
				_, err = client(t).Do(req)
				assert.Error(t, err)
			} else {
				assert.Equal(t, c.status, send(t, http.MethodPost, srv.URL+"/pay", "k", "x").status)
			}
			srv.Close()
			assert.Equal(t, []idempotency.Outcome{c.want}, log.outcomes())
		})
	}
}

// OnReplay still sees each replay beside OnOutcome.
func TestOnReplayBesideOnOutcome(t *testing.T) {
	log := &outcomeLog{t: t}
	var mu sync.Mutex
	replays := 0
	srv := serve(t, idempotency.Options{OnOutcome: log.record, OnReplay: func(*http.Request) {
		mu.Lock()
		replays++
		mu.Unlock()
	}}, &payments{})
	send(t, http.MethodPost, srv.URL+"/pay", "k", "x")
	send(t, http.MethodPost, srv.URL+"/pay", "k", "x")
	srv.Close()
	assert.Equal(t, []idempotency.Outcome{idempotency.OutcomeFirstRun, idempotency.OutcomeReplayed}, log.outcomes())
	assert.Equal(t, 1, replays)
}

// Outcomes lists each constant once, each a label value fit for
// Prometheus and OpenTelemetry alike.
func TestOutcomesAreBounded(t *testing.T) {
	seen := map[idempotency.Outcome]bool{}
	for _, o := range idempotency.Outcomes() {
		assert.False(t, seen[o], o)
		seen[o] = true
		assert.Regexp(t, `^[a-z_]+$`, string(o))
	}
	assert.Len(t, seen, 14)
}
