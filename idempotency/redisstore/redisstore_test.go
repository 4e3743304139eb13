package redisstore_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
	"github.com/rtchain/rtchain/idempotency/storetest"
)

func TestMain(m *testing.M) {
	// go-redis dials a node that went away (the master the Cluster test
	// kills) from a goroutine that sleeps a second between attempts, and
	// sees only after its sleep that the pool was closed.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

func TestContract(t *testing.T) {
	srv := redistest.Start(t, "")
	rdb := client(t, srv)
	var n atomic.Int64
	storetest.Run(t, func(*testing.T) idempotency.Store {
		return redisstore.New(rdb, "test"+strconv.FormatInt(n.Add(1), 10)+":")
	})
}

// post sends a keyed POST straight to h, as a server would receive it.
func post(h http.Handler, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/pay", strings.NewReader(body))
	req.Header.Set("Idempotency-Key", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A first request costs two round trips to Redis, a replay one.
func TestRoundTrips(t *testing.T) {
	srv := redistest.Start(t, "")
	var rt roundTrips
	store := redisstore.New(client(t, srv, &rt), "rt:")
	runs := 0
	h := idempotency.Middleware(idempotency.Options{Store: store})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs++
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "paid")
	}))
	post(h, "warm-up", "x") // loads the scripts (EVALSHA, then EVAL once)
	rt.n = 0
	first := post(h, "k", "x")
	assert.Equal(t, http.StatusCreated, first.Code)
	assert.Equal(t, 2, rt.n, "first request")
	rt.n = 0
	replay := post(h, "k", "x")
	assert.Equal(t, "paid", replay.Body.String())
	assert.Equal(t, "true", replay.Header().Get("Idempotent-Replayed"))
	assert.Equal(t, 1, rt.n, "replay")
	assert.Equal(t, 2, runs)
}

// Redis gone: the middleware fails closed, and nothing runs unprotected.
func TestRedisDownFailsClosed(t *testing.T) {
	srv := redistest.Start(t, "")
	store := redisstore.New(client(t, srv), "down:")
	runs := 0
	h := idempotency.Middleware(idempotency.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs++ }))
	srv.Kill()
	rec := post(h, "k", "x")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	assert.Zero(t, runs)
}

// A record that is not what this package writes is an error, not a reply.
func TestMalformedRecordIsAnError(t *testing.T) {
	srv := redistest.Start(t, "")
	rdb := client(t, srv)
	ctx := context.Background()
	require.NoError(t, rdb.HSet(ctx, "bad:k", "o", "x", "f", "fp", "s", "teapot").Err())
	_, _, err := redisstore.New(rdb, "bad:").Begin(ctx, "k", idempotency.Record{Owner: "o", Fingerprint: "fp"}, 0)
	assert.ErrorContains(t, err, "malformed record")
}
