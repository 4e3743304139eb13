package overload_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/overload"
)

// one is a Limiter that admits one request at a time, whatever latency
// says, with queue as its Queue.
func one(queue int) *overload.Limiter {
	return overload.NewLimiter(overload.LimiterOptions{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, Queue: queue})
}

// gate is a handler that holds each request until it is opened, and
// counts its runs.
type gate struct {
	entered chan string // the path of each request that entered
	open    chan struct{}
	runs    atomic.Int64
}

func newGate() *gate { return &gate{entered: make(chan string, 16), open: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.runs.Add(1)
	g.entered <- r.URL.Path
	<-g.open
	_, _ = io.WriteString(w, "served "+r.URL.Path)
}

// serve starts a real server on loopback for h, closed when the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get sends a GET of path to srv with header (name, value pairs) and
// returns the status, the header and the body.
func get(t *testing.T, srv *httptest.Server, path string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

func TestExcessRefusedAtOnce(t *testing.T) {
	g := newGate()
	var shed []overload.ShedEvent
	var mu sync.Mutex
	srv := serve(t, overload.Middleware(overload.Options{
		Limiter: one(-1),
		OnShed: func(_ *http.Request, e overload.ShedEvent) {
			mu.Lock()
			shed = append(shed, e)
			mu.Unlock()
		},
	})(g))

	first := make(chan string)
	go func() { _, _, body := get(t, srv, "/first"); first <- body }()
	require.Equal(t, "/first", <-g.entered)

	start := time.Now()
	status, h, body := get(t, srv, "/second")
	took := time.Since(start)
	close(g.open)
	assert.Equal(t, "served /first", <-first)

	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Less(t, took, time.Second, "refused at once, not after a wait")
	assert.Equal(t, "application/problem+json", h.Get("Content-Type"))
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	secs, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, secs, 1, "Retry-After: whole seconds, at least 1")
	ms, err := strconv.Atoi(h.Get("Retry-After-Ms"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ms, int(overload.MinRetryAfter/time.Millisecond))
	assert.Less(t, ms, 2*int(overload.MinRetryAfter/time.Millisecond), "nothing learned yet: the least wait, with jitter below 2×")
	var p struct {
		Type   string
		Title  string
		Status int
	}
	require.NoError(t, json.Unmarshal([]byte(body), &p))
	assert.Equal(t, overload.ProblemBase+overload.ProblemOverloaded, p.Type)
	assert.Equal(t, http.StatusServiceUnavailable, p.Status)
	assert.NotEmpty(t, p.Title)
	assert.EqualValues(t, 1, g.runs.Load(), "the refused request never ran")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, shed, 1)
	assert.ErrorIs(t, shed[0].Err, overload.ErrOverloaded)
	assert.Equal(t, overload.Normal, shed[0].Priority)
	assert.Equal(t, time.Duration(ms)*time.Millisecond, shed[0].Wait.Truncate(time.Millisecond))
	assert.Equal(t, 1, shed[0].Limit)
	assert.Equal(t, 1, shed[0].InFlight)
}

// The waits asked of refused clients are spread: they do not come back
// together.
func TestRetryAfterJitter(t *testing.T) {
	l := one(-1)
	seen := map[time.Duration]bool{}
	for range 100 {
		d := l.RetryAfter()
		require.GreaterOrEqual(t, d, overload.MinRetryAfter)
		require.Less(t, d, 2*overload.MinRetryAfter)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 50)
}

// call serves one request through h, directly, with ctx, and returns its
// status once it is answered.
func call(h http.Handler, ctx context.Context, path string, header ...string) <-chan int {
	done := make(chan int, 1)
	go func() {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		done <- rec.Code
	}()
	return done
}

func TestQueue(t *testing.T) {
	t.Run("a waiter whose context ends leaves, and its handler never runs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newGate()
			l := one(0)
			h := overload.Middleware(overload.Options{Limiter: l})(g)
			first := call(h, t.Context(), "/first")
			require.Equal(t, "/first", <-g.entered)

			ctx, leave := context.WithCancel(t.Context())
			second := call(h, ctx, "/second")
			synctest.Wait()
			assert.Equal(t, 1, l.Queued(), "the second waits for the slot")
			leave()
			assert.Equal(t, http.StatusServiceUnavailable, <-second)
			assert.Equal(t, 0, l.Queued())

			close(g.open)
			assert.Equal(t, http.StatusOK, <-first)
			assert.EqualValues(t, 1, g.runs.Load(), "the handler never ran for the caller who left")
			assert.Equal(t, 0, l.InFlight())
		})
	})
	t.Run("a waiter is served when the slot frees, first come first served", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newGate()
			l := one(0)
			var waited atomic.Int64
			h := overload.Middleware(overload.Options{Limiter: l, OnAdmit: func(_ *http.Request, e overload.AdmitEvent) {
				waited.Add(int64(e.Waited))
			}})(g)
			first := call(h, t.Context(), "/first")
			require.Equal(t, "/first", <-g.entered)
			time.Sleep(time.Millisecond) // a moment later (fake time), the second arrives
			second := call(h, t.Context(), "/second")
			synctest.Wait()
			time.Sleep(5 * time.Millisecond)
			g.open <- struct{}{}
			assert.Equal(t, http.StatusOK, <-first)
			assert.Equal(t, "/second", <-g.entered)
			g.open <- struct{}{}
			assert.Equal(t, http.StatusOK, <-second)
			assert.Equal(t, 5*time.Millisecond, time.Duration(waited.Load()))
		})
	})
	t.Run("a full queue refuses at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newGate()
			l := one(1)
			h := overload.Middleware(overload.Options{Limiter: l})(g)
			first := call(h, t.Context(), "/first")
			<-g.entered
			second := call(h, t.Context(), "/second")
			synctest.Wait()
			assert.Equal(t, http.StatusServiceUnavailable, <-call(h, t.Context(), "/third"))
			close(g.open)
			assert.Equal(t, http.StatusOK, <-first)
			assert.Equal(t, http.StatusOK, <-second)
			assert.EqualValues(t, 2, g.runs.Load())
		})
	})
}

func TestRetriesShedFirst(t *testing.T) {
	for _, retry := range [][2]string{
		{"Retry-Attempt", "2"},
		{"X-Envoy-Attempt-Count", "3"},
		{"amz-sdk-request", "attempt=2; max=3"},
		{"grpc-previous-rpc-attempts", "1"},
	} {
		t.Run(retry[0], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGate()
				l := one(0)
				var shed []overload.Priority
				h := overload.Middleware(overload.Options{Limiter: l, OnShed: func(_ *http.Request, e overload.ShedEvent) {
					shed = append(shed, e.Priority)
				}})(g)
				first := call(h, t.Context(), "/first")
				<-g.entered
				// Under overload: the retry is refused at once, a first
				// attempt that came after it waits, and is served.
				assert.Equal(t, http.StatusServiceUnavailable, <-call(h, t.Context(), "/retry", retry[0], retry[1]))
				later := call(h, t.Context(), "/later")
				synctest.Wait()
				close(g.open)
				assert.Equal(t, http.StatusOK, <-first)
				assert.Equal(t, http.StatusOK, <-later)
				assert.Equal(t, []overload.Priority{overload.Sheddable}, shed)
			})
		})
	}
}

func TestIsRetry(t *testing.T) {
	for _, tc := range []struct {
		name, header, value string
		want                bool
	}{
		{"no header", "", "", false},
		{"Retry-Attempt 1", "Retry-Attempt", "1", false},
		{"Retry-Attempt 2", "Retry-Attempt", "2", true},
		{"Retry-Attempt malformed", "Retry-Attempt", "two", false},
		{"Envoy 1", "X-Envoy-Attempt-Count", "1", false},
		{"Envoy 2", "X-Envoy-Attempt-Count", "2", true},
		{"AWS attempt 1", "amz-sdk-request", "attempt=1; max=3", false},
		{"AWS attempt 3", "amz-sdk-request", "attempt=3; max=3", true},
		{"AWS attempt last", "amz-sdk-request", "max=3; attempt=2", true},
		{"AWS malformed", "amz-sdk-request", "attempt=x", false},
		{"gRPC 0", "grpc-previous-rpc-attempts", "0", false},
		{"gRPC 1", "grpc-previous-rpc-attempts", "1", true},
		{"too long", "Retry-Attempt", "12345678901", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.header != "" {
				r.Header.Set(tc.header, tc.value)
			}
			assert.Equal(t, tc.want, overload.IsRetry(r))
			want := overload.Normal
			if tc.want {
				want = overload.Sheddable
			}
			assert.Equal(t, want, overload.DefaultPriority(r))
			assert.Zero(t, testing.AllocsPerRun(10, func() { overload.IsRetry(r) }))
		})
	}
}

func TestCriticalPassesTheLimit(t *testing.T) {
	g := newGate()
	health := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/work", g)
	mux.Handle("/healthz", health)
	srv := serve(t, overload.Middleware(overload.Options{
		Limiter: overload.NewLimiter(overload.LimiterOptions{InitialLimit: 1, MinLimit: 1, MaxLimit: 2, Queue: -1}),
		Priority: func(r *http.Request) overload.Priority {
			if r.URL.Path == "/healthz" {
				return overload.Critical
			}
			return overload.DefaultPriority(r)
		},
	})(mux))
	first := make(chan int)
	go func() { status, _, _ := get(t, srv, "/work"); first <- status }()
	<-g.entered

	status, _, _ := get(t, srv, "/work")
	assert.Equal(t, http.StatusServiceUnavailable, status, "a Normal request over the limit")
	status, _, body := get(t, srv, "/healthz")
	assert.Equal(t, http.StatusOK, status, "Critical passes the limit")
	assert.Equal(t, "ok", body)
	close(g.open)
	assert.Equal(t, http.StatusOK, <-first)
}

func TestPanicReleasesItsSlot(t *testing.T) {
	for _, v := range []any{"boom", http.ErrAbortHandler} {
		t.Run(func() string { s, _ := v.(string); return "panic " + s }(), func(t *testing.T) {
			l := one(-1)
			var done []overload.DoneEvent
			h := overload.Middleware(overload.Options{Limiter: l, OnDone: func(_ *http.Request, e overload.DoneEvent) {
				done = append(done, e)
			}})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(v) }))
			assert.PanicsWithValue(t, v, func() {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			}, "the panic goes on, as net/http expects")
			assert.Equal(t, 0, l.InFlight(), "the slot was given back")
			require.Len(t, done, 1)
			assert.True(t, done[0].Panicked)
		})
	}
	t.Run("over a real server", func(t *testing.T) {
		l := one(-1)
		srv := httptest.NewUnstartedServer(overload.Middleware(overload.Options{Limiter: l})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/panic" {
					panic(http.ErrAbortHandler) // net/http closes the connection, quietly
				}
				_, _ = io.WriteString(w, "ok")
			})))
		srv.Start()
		t.Cleanup(srv.Close)
		_, err := srv.Client().Get(srv.URL + "/panic")
		require.Error(t, err)
		status, _, _ := get(t, srv, "/fine")
		assert.Equal(t, http.StatusOK, status, "the panicked request's slot is free again")
	})
}

func TestHooks(t *testing.T) {
	var (
		mu    sync.Mutex
		admit []overload.AdmitEvent
		done  []overload.DoneEvent
		paths []string
	)
	srv := serve(t, overload.Middleware(overload.Options{
		OnAdmit: func(r *http.Request, e overload.AdmitEvent) {
			mu.Lock()
			defer mu.Unlock()
			admit = append(admit, e)
			paths = append(paths, r.URL.Path)
		},
		OnDone: func(r *http.Request, e overload.DoneEvent) {
			mu.Lock()
			defer mu.Unlock()
			done = append(done, e)
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })))
	status, _, _ := get(t, srv, "/a", "Retry-Attempt", "2")
	assert.Equal(t, http.StatusOK, status, "unloaded, a retry is served")
	status, _, _ = get(t, srv, "/b")
	assert.Equal(t, http.StatusOK, status)

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"/a", "/b"}, paths)
	require.Len(t, admit, 2)
	assert.Equal(t, overload.Sheddable, admit[0].Priority)
	assert.Equal(t, overload.Normal, admit[1].Priority)
	assert.Zero(t, admit[1].Waited)
	require.Len(t, done, 2)
	for _, e := range done {
		assert.Positive(t, e.Latency)
		assert.False(t, e.Dropped)
		assert.False(t, e.Panicked)
	}
}

func TestDeadlineHeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := overload.NewLimiter(overload.LimiterOptions{})
		var ran atomic.Int64
		h := overload.Middleware(overload.Options{Limiter: l, TimeoutHeader: "Request-Timeout"})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran.Add(1)
				dl, ok := r.Context().Deadline()
				if ok {
					w.Header().Set("Deadline-In", time.Until(dl).String())
				}
				time.Sleep(100 * time.Millisecond)
			}))
		for range 20 { // a window of the limit's size: it learns a latency of 100 ms
			assert.Equal(t, http.StatusOK, <-call(h, t.Context(), "/"))
		}
		require.Equal(t, 100*time.Millisecond, l.Latency())

		for _, tc := range []struct {
			value string
			want  int
		}{
			{"50", http.StatusServiceUnavailable}, // 50 ms: too near
			{"50m", http.StatusServiceUnavailable},
			{"1S", http.StatusOK},
			{"1000", http.StatusOK},
			{"soon", http.StatusOK}, // malformed: ignored
			{"", http.StatusOK},
		} {
			before := ran.Load()
			assert.Equal(t, tc.want, <-call(h, t.Context(), "/", "Request-Timeout", tc.value), "Request-Timeout: %q", tc.value)
			assert.Equal(t, tc.want == http.StatusOK, ran.Load() > before)
		}

		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
		req.Header.Set("Request-Timeout", "2S")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, "2s", rec.Header().Get("Deadline-In"), "the handler's context ends at the caller's deadline")

		rec = httptest.NewRecorder()
		req.Header.Set("Request-Timeout", "10m")
		h.ServeHTTP(rec, req)
		var p struct{ Type string }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		assert.Equal(t, overload.ProblemBase+overload.ProblemDeadline, p.Type)
	})
}

// The limit follows the handler's latency, through the middleware: it
// grows while latency is flat, and falls when a queue shows in it.
func TestLimitFollowsTheHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := overload.NewLimiter(overload.LimiterOptions{})
		var queueing atomic.Bool
		h := overload.Middleware(overload.Options{Limiter: l})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d := 10 * time.Millisecond
			if n := l.InFlight(); queueing.Load() && n > 4 {
				d = d * time.Duration(n) / 4 // a server that does 4 things at a time
			}
			time.Sleep(d)
		}))
		ctx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for range 60 { // a crowd of callers, each one after the other
			wg.Go(func() {
				for ctx.Err() == nil {
					if <-call(h, ctx, "/") == http.StatusServiceUnavailable {
						time.Sleep(l.RetryAfter())
					}
				}
			})
		}
		time.Sleep(time.Second)
		assert.Greater(t, l.Limit(), 40, "flat latency: the limit grows past its start of 20")
		queueing.Store(true)
		time.Sleep(2 * time.Second) // in 200 runs: 5 to 8, most often 6
		assert.LessOrEqual(t, l.Limit(), 10, "latency with a queue: the limit falls from past 40 to near the 4 the server can do")
		stop()
		wg.Wait()
	})
}

func TestBadOptionsPanic(t *testing.T) {
	for name, o := range map[string]overload.LimiterOptions{
		"negative":        {MaxLimit: -1},
		"min over max":    {MinLimit: 5, MaxLimit: 2},
		"initial outside": {InitialLimit: 10, MaxLimit: 5},
		"tolerance":       {Tolerance: 0.9},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				assert.Regexp(t, `^overload: LimiterOptions: `, msg)
			}()
			overload.NewLimiter(o)
			t.Error("no panic")
		})
	}
	t.Run("nil handler", func(t *testing.T) {
		assert.PanicsWithValue(t, "overload: Middleware: nil handler", func() {
			overload.Middleware(overload.Options{})(nil)
		})
	})
}
