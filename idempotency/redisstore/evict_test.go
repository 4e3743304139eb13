package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/redisstore"
	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
)

// logs captures the records of a slog.Logger.
type logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// warnings returns each warning's message and attributes, as "key=value".
func (l *logs) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level != slog.LevelWarn {
			continue
		}
		s := r.Message
		r.Attrs(func(a slog.Attr) bool {
			s += " " + a.Key + "=" + a.Value.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

// keyedRun takes a new key in store, as the middleware would.
func keyedRun(t *testing.T, store idempotency.Store) {
	t.Helper()
	_, acquired, err := store.Begin(context.Background(), "k", idempotency.Record{Owner: "o", Fingerprint: "fp"}, time.Minute)
	require.NoError(t, err)
	require.True(t, acquired)
}

func TestNoevictionAccepted(t *testing.T) {
	srv := redistest.Start(t, "", "--maxmemory-policy", "noeviction", "--maxmemory", "64mb")
	var l logs
	store, err := redisstore.Open(context.Background(), client(t, srv), "ok:", redisstore.Options{Logger: slog.New(&l)})
	require.NoError(t, err)
	keyedRun(t, store)
	assert.Empty(t, l.warnings())
}

// Every policy but noeviction may evict a record: allkeys-* any key,
// volatile-* any key with a TTL, and every record has one.
func TestEvictingPolicyRefused(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []string{"allkeys-lru", "volatile-lru"} {
		t.Run(policy, func(t *testing.T) {
			srv := redistest.Start(t, "", "--maxmemory-policy", policy)
			_, err := redisstore.Open(ctx, client(t, srv), "evict:", redisstore.Options{})
			require.ErrorIs(t, err, redisstore.ErrEvictionPolicy)
			msg := err.Error()
			assert.Contains(t, msg, srv.Addr+" has "+policy)
			assert.Contains(t, msg, "CONFIG SET maxmemory-policy noeviction")
			assert.Contains(t, msg, "AllowEviction")
			// No limit yet, but one can be set at run time: refused all
			// the same, and the message says why.
			assert.Contains(t, msg, "maxmemory 0")
		})
	}
	t.Run("others", func(t *testing.T) {
		srv := redistest.Start(t, "", "--maxmemory", "64mb")
		rdb := client(t, srv)
		for _, policy := range []string{"allkeys-lfu", "allkeys-random", "volatile-lfu", "volatile-random", "volatile-ttl"} {
			require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", policy).Err())
			_, err := redisstore.Open(ctx, rdb, "evict:", redisstore.Options{})
			require.ErrorIs(t, err, redisstore.ErrEvictionPolicy, policy)
			assert.Contains(t, err.Error(), srv.Addr+" has "+policy)
			assert.NotContains(t, err.Error(), "maxmemory 0")
		}
	})
}

func TestAllowEvictionAccepts(t *testing.T) {
	srv := redistest.Start(t, "", "--maxmemory-policy", "allkeys-lru")
	var l logs
	store, err := redisstore.Open(context.Background(), client(t, srv), "allow:",
		redisstore.Options{AllowEviction: true, Logger: slog.New(&l)})
	require.NoError(t, err)
	keyedRun(t, store)
	w := l.warnings()
	require.Len(t, w, 1)
	assert.Contains(t, w[0], "accepted by Options.AllowEviction")
	assert.Contains(t, w[0], "addr="+srv.Addr)
	assert.Contains(t, w[0], "maxmemory-policy=allkeys-lru")
}

// Managed Redis services rename or disable CONFIG: the Store cannot read
// the policy, warns, and serves.
func TestConfigRenamedAcceptedWithWarning(t *testing.T) {
	srv := redistest.Start(t, "", "--rename-command", "CONFIG", "")
	var l logs
	store, err := redisstore.Open(context.Background(), client(t, srv), "renamed:", redisstore.Options{Logger: slog.New(&l)})
	require.NoError(t, err)
	keyedRun(t, store)
	w := l.warnings()
	require.Len(t, w, 1)
	assert.Contains(t, w[0], "cannot read maxmemory-policy; make sure it is noeviction")
	assert.Contains(t, w[0], "addr="+srv.Addr)
	assert.Contains(t, w[0], "unknown command")
}

// An ACL that denies CONFIG: NOPERM, the same as a renamed command.
func TestConfigNoPermAcceptedWithWarning(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, "", "--maxmemory-policy", "allkeys-lru")
	require.NoError(t, client(t, srv).Do(ctx, "ACL", "SETUSER", "app", "on", "nopass", "~*", "+@all", "-config").Err())
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "app", Password: "any", MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	var l logs
	store, err := redisstore.Open(ctx, rdb, "noperm:", redisstore.Options{Logger: slog.New(&l)})
	require.NoError(t, err)
	keyedRun(t, store)
	w := l.warnings()
	require.Len(t, w, 1)
	assert.Contains(t, w[0], "cannot read maxmemory-policy")
	assert.Contains(t, w[0], "NOPERM")
}

// A server out of reach is not a server that refuses CONFIG: Open fails,
// so that nothing goes unchecked.
func TestOpenUnreachableFails(t *testing.T) {
	srv := redistest.Start(t, "")
	rdb := client(t, srv)
	srv.Kill()
	_, err := redisstore.Open(context.Background(), rdb, "down:", redisstore.Options{})
	require.Error(t, err)
	assert.NotErrorIs(t, err, redisstore.ErrEvictionPolicy)
	assert.Contains(t, err.Error(), "reading maxmemory-policy")
}

// New does no I/O: its Store checks on the first Begin, refuses every
// Begin while the policy may evict (503, nothing runs), and serves once
// the policy is fixed, without a restart.
func TestNewChecksOnFirstBegin(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, "", "--maxmemory-policy", "volatile-lru")
	rdb := client(t, srv)
	store := redisstore.New(rdb, "lazy:")
	_, _, err := store.Begin(ctx, "k", idempotency.Record{Owner: "o", Fingerprint: "fp"}, time.Minute)
	require.ErrorIs(t, err, redisstore.ErrEvictionPolicy)

	runs := 0
	h := idempotency.Middleware(idempotency.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs++ }))
	assert.Equal(t, http.StatusServiceUnavailable, post(h, "k", "x").Code)
	assert.Zero(t, runs)
	n, err := rdb.DBSize(ctx).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a refused Begin wrote nothing")

	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	assert.Equal(t, http.StatusOK, post(h, "k", "x").Code)
	assert.Equal(t, 1, runs)
	// Checked once: a policy changed afterwards is not seen (the docs say
	// so), and Begin costs no CONFIG GET any more.
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	assert.Equal(t, http.StatusOK, post(h, "k2", "x").Code)
}

// Every master and every replica of a Cluster is checked: a replica
// becomes a master at failover.
func TestClusterPolicies(t *testing.T) {
	ctx := context.Background()
	c := redistest.StartCluster(t, 3, 1)
	replicasKnown(t, c)
	// Timeouts that a loaded machine does not reach: nothing here waits
	// on one.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DialTimeout: 5 * time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	set := func(s *redistest.Server, policy string) {
		t.Helper()
		n := redis.NewClient(&redis.Options{Addr: s.Addr})
		defer n.Close()
		require.NoError(t, n.ConfigSet(ctx, "maxmemory-policy", policy).Err())
	}
	var l logs
	o := redisstore.Options{Logger: slog.New(&l)}

	store, err := redisstore.Open(ctx, rdb, "cluster:", o)
	require.NoError(t, err)
	keyedRun(t, store)
	assert.Empty(t, l.warnings())

	masters := c.Masters()
	var replica *redistest.Server
	for _, s := range c.Nodes {
		if !slices.Contains(masters, s) {
			replica = s
			break
		}
	}
	require.NotNil(t, replica)

	set(masters[1], "allkeys-lfu")
	_, err = redisstore.Open(ctx, rdb, "cluster:", o)
	require.ErrorIs(t, err, redisstore.ErrEvictionPolicy)
	assert.Contains(t, err.Error(), masters[1].Addr+" has allkeys-lfu")
	set(masters[1], "noeviction")

	set(replica, "volatile-ttl")
	_, err = redisstore.Open(ctx, rdb, "cluster:", o)
	require.ErrorIs(t, err, redisstore.ErrEvictionPolicy)
	assert.Contains(t, err.Error(), replica.Addr+" has volatile-ttl")
	assert.Equal(t, 1, strings.Count(err.Error(), " has "), "the one node named")

	o.AllowEviction = true
	_, err = redisstore.Open(ctx, rdb, "cluster:", o)
	require.NoError(t, err)
	w := l.warnings()
	require.Len(t, w, 1)
	assert.Contains(t, w[0], "addr="+replica.Addr)
}

// replicasKnown waits until every node of c lists a replica for each of
// its slot ranges in CLUSTER SLOTS, where a Cluster client learns of them:
// a fresh cluster's gossip may take a moment more than its health.
func replicasKnown(t *testing.T, c *redistest.Cluster) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range c.Nodes {
		n := redis.NewClient(&redis.Options{Addr: s.Addr})
		for {
			//lint:ignore SA1019 the Cluster client reads CLUSTER SLOTS (not SHARDS): what it will see
			slots, err := n.ClusterSlots(ctx).Result()
			known := err == nil && len(slots) > 0
			for _, r := range slots {
				known = known && len(r.Nodes) == 2
			}
			if known {
				break
			}
			if time.Now().After(deadline) {
				_ = n.Close()
				t.Fatalf("%s: replicas not in CLUSTER SLOTS within 30s: %v %v", s.Addr, slots, err)
			}
			time.Sleep(50 * time.Millisecond) // polling the cluster's gossip
		}
		_ = n.Close()
	}
}

// The hazard the check prevents. Redis shared with a cache whose keys
// carry a TTL, full: under volatile-lru it evicts the oldest key with a
// TTL, the payment's record among them, and the retry of that payment
// runs it again. Under noeviction the writes fail instead (a Begin's too:
// the middleware answers 503), and the record stays: the retry is answered
// from it.
func TestEvictionHazard(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	// fill writes cache entries until the payment's record is gone, or a
	// write is refused; it returns the error of the refused write.
	fill := func(t *testing.T, rdb *redis.Client) error {
		keys, err := rdb.Keys(ctx, "pay:*").Result()
		require.NoError(t, err)
		require.Len(t, keys, 1, "the payment's record")
		record := keys[0]
		value := strings.Repeat("x", 16<<10)
		for i := range 2000 {
			if err := rdb.Set(ctx, fmt.Sprintf("cache:%d", i), value, time.Hour).Err(); err != nil {
				return err
			}
			if n, err := rdb.Exists(ctx, record).Result(); err != nil || n == 0 {
				return err
			}
		}
		t.Fatal("the cache filled Redis twice over and nothing happened")
		return nil
	}
	run := func(t *testing.T, policy string, o redisstore.Options) (h http.Handler, rdb *redis.Client, runs *int) {
		srv := redistest.Start(t, "", "--maxmemory", "4mb", "--maxmemory-policy", policy)
		rdb = client(t, srv)
		store, err := redisstore.Open(ctx, rdb, "pay:", o)
		require.NoError(t, err)
		runs = new(int)
		h = idempotency.Middleware(idempotency.Options{Store: store, Logger: quiet})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				*runs++
				w.WriteHeader(http.StatusCreated)
			}))
		return h, rdb, runs
	}

	t.Run("volatile-lru", func(t *testing.T) {
		h, rdb, runs := run(t, "volatile-lru", redisstore.Options{AllowEviction: true, Logger: quiet})
		require.Equal(t, http.StatusCreated, post(h, "k", "x").Code)
		require.NoError(t, fill(t, rdb))
		retry := post(h, "k", "x")
		assert.Equal(t, http.StatusCreated, retry.Code)
		assert.Empty(t, retry.Header().Get("Idempotent-Replayed"))
		assert.Equal(t, 2, *runs, "the record evicted, the payment ran twice")
	})
	t.Run("noeviction", func(t *testing.T) {
		h, rdb, runs := run(t, "noeviction", redisstore.Options{Logger: quiet})
		require.Equal(t, http.StatusCreated, post(h, "k", "x").Code)
		err := fill(t, rdb)
		require.ErrorContains(t, err, "OOM")
		retry := post(h, "k", "x")
		assert.Equal(t, http.StatusCreated, retry.Code)
		assert.Equal(t, "true", retry.Header().Get("Idempotent-Replayed"))
		assert.Equal(t, 1, *runs)
	})
}
