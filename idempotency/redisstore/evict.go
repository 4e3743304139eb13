package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrEvictionPolicy is wrapped by the error of Open, and of a Begin of a
// Store made by New, when a Redis node's maxmemory-policy is not
// noeviction. Under memory pressure such a node may delete a live record,
// and a retry of its key then runs the handler again: the double effect
// the store exists to prevent. With noeviction, Redis refuses writes
// instead, which the middleware answers 503.
var ErrEvictionPolicy = errors.New("redisstore: maxmemory-policy may evict records")

// Options configures a Store made by Open. The zero value is the safe
// default.
type Options struct {
	// AllowEviction accepts nodes whose maxmemory-policy is not noeviction,
	// with a warning to Logger. Dangerous: when such a node reaches
	// maxmemory it may evict a record still in use (every record has a TTL,
	// so the volatile-* policies may pick it as well as the allkeys-* ones),
	// and a retry of its key then runs the handler a second time. Set it
	// only if a double effect is acceptable, or Redis can never fill up.
	AllowEviction bool
	// Logger receives the Store's warnings: a node whose policy could not
	// be read (CONFIG refused), and evicting policies accepted by
	// AllowEviction. nil means slog.Default().
	Logger *slog.Logger
}

// nodePolicy is what a node said of its memory configuration.
type nodePolicy struct {
	addr      string
	policy    string // maxmemory-policy; "" if unknown
	maxmemory string
	// unread is why the policy could not be read: CONFIG refused, or a
	// Cluster replica out of reach.
	unread error
}

// verify checks the nodes' maxmemory-policy (see Open) and, once it has
// passed, marks the Store checked and logs its warnings: once, however
// many Begins verified it at the same time.
func (s *Store) verify(ctx context.Context) error {
	nodes, err := s.policies(ctx)
	if err != nil {
		return fmt.Errorf("redisstore: reading maxmemory-policy: %w", err)
	}
	var evicting []nodePolicy
	for _, n := range nodes {
		if n.unread == nil && n.policy != "" && !strings.EqualFold(n.policy, "noeviction") {
			evicting = append(evicting, n)
		}
	}
	if len(evicting) > 0 && !s.allowEviction {
		var b strings.Builder
		for i, n := range evicting {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s has %s", n.addr, n.policy)
			if n.maxmemory == "0" {
				b.WriteString(" (maxmemory 0: no limit yet, but CONFIG SET maxmemory sets one at any time)")
			}
		}
		return fmt.Errorf("%w: %s; under memory pressure Redis may delete a live record, and a retry of its key "+
			"would run the handler again. Run CONFIG SET maxmemory-policy noeviction (and set it in redis.conf), "+
			"or set redisstore.Options.AllowEviction to accept the risk", ErrEvictionPolicy, b.String())
	}
	if !s.checked.CompareAndSwap(false, true) {
		return nil
	}
	logger := s.logger
	if logger == nil {
		logger = slog.Default()
	}
	for _, n := range nodes {
		switch {
		case n.unread != nil:
			logger.WarnContext(ctx, "redisstore: cannot read maxmemory-policy; make sure it is noeviction, "+
				"or Redis may evict a live record under memory pressure and a retry would run the handler again",
				"addr", n.addr, "error", n.unread)
		case n.policy == "":
			logger.WarnContext(ctx, "redisstore: no maxmemory-policy in CONFIG GET's reply; make sure it is noeviction, "+
				"or Redis may evict a live record under memory pressure and a retry would run the handler again",
				"addr", n.addr)
		case !strings.EqualFold(n.policy, "noeviction"):
			logger.WarnContext(ctx, "redisstore: maxmemory-policy may evict records, accepted by Options.AllowEviction: "+
				"under memory pressure a retry may run the handler again",
				"addr", n.addr, "maxmemory-policy", n.policy, "maxmemory", n.maxmemory)
		}
	}
	return nil
}

// policies reads every node's memory configuration: a single node's, or
// those of a Cluster's masters and replicas, or a Ring's live shards.
func (s *Store) policies(ctx context.Context) ([]nodePolicy, error) {
	var (
		mu  sync.Mutex
		out []nodePolicy
	)
	add := func(n nodePolicy) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, n)
	}
	strict := func(ctx context.Context, c *redis.Client) error {
		n, err := readPolicy(ctx, c, c.Options().Addr)
		if err == nil {
			add(n)
		}
		return err
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		if err = c.ForEachMaster(ctx, strict); err != nil {
			break
		}
		// A replica out of reach holds no record now: a warning, not a
		// failure, so that a dead replica does not stop the Store.
		err = c.ForEachSlave(ctx, func(ctx context.Context, c *redis.Client) error {
			n, err := readPolicy(ctx, c, c.Options().Addr)
			if err != nil {
				n = nodePolicy{addr: c.Options().Addr, unread: err}
			}
			add(n)
			return nil
		})
	case *redis.Ring:
		err = c.ForEachShard(ctx, strict)
	case *redis.Client:
		err = strict(ctx, c)
	default:
		var n nodePolicy
		if n, err = readPolicy(ctx, s.rdb, "Redis"); err == nil {
			add(n)
		}
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b nodePolicy) int { return strings.Compare(a.addr, b.addr) })
	return out, nil
}

// readPolicy reads one node's maxmemory settings (one round trip; a glob,
// since CONFIG GET takes one parameter only before Redis 7). A node that
// refuses the command is a nodePolicy with unread set; an error is one
// that may pass (the node out of reach, loading, busy) or that no Begin
// would get past (not authenticated).
func readPolicy(ctx context.Context, c redis.Cmdable, addr string) (nodePolicy, error) {
	m, err := c.ConfigGet(ctx, "maxmemory*").Result()
	switch {
	case err == nil:
		return nodePolicy{addr: addr, policy: m["maxmemory-policy"], maxmemory: m["maxmemory"]}, nil
	case configRefused(err):
		return nodePolicy{addr: addr, unread: err}, nil
	}
	return nodePolicy{}, fmt.Errorf("%s: %w", addr, err)
}

// configRefused reports whether err is the server's refusal of CONFIG
// itself: a reply error ("ERR unknown command 'CONFIG'" where it is
// renamed or disabled, NOPERM under an ACL, a proxy's own words), not a
// failure to reach the server or a state that passes.
func configRefused(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false // the network, a timeout, the context, a closed client
	}
	msg := re.Error()
	for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOAUTH", "WRONGPASS",
		"ERR max number of clients"} {
		if strings.HasPrefix(msg, p) {
			return false
		}
	}
	return true
}
