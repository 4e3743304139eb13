// Package redisstore keeps idempotency.Middleware's records in Redis, so
// that every instance of a service behind a load balancer agrees on each
// Idempotency-Key: a retry that fails over to another instance is answered
// from the record the first instance stored, and never runs twice.
//
// Entry points: New (a Store over a go-redis v9 UniversalClient: a single
// node, a Sentinel failover client or a Cluster client), Open (the same,
// once Redis's memory policy is checked, with Options) and Store, which
// implements idempotency.Store.
//
// Each operation is one Lua script (atomic, one round trip): Begin takes the
// key with SET-if-absent semantics and a lease as its expiry, or returns the
// record that holds it; Complete and Release check the owner's token
// (fencing), so a run that outlived its lease changes nothing. Expiry is
// Redis's own (PEXPIRE), so records of a dead instance free themselves.
//
// Redis Cluster: a record is one Redis key, and every script touches that
// key alone, so each record lives in one hash slot and no script can meet
// CROSSSLOT; no hash tag is needed. When a master dies, the Store reloads
// the Cluster client's slots after the failed command (go-redis reloads
// them on MOVED only, and the dead master's slots went on failing for 15 s
// and more without it), so calls heal as soon as its replica takes over:
// TestExactlyOnceOnClusterFailover kills a master of three during 500 keyed
// payments, and each is charged once. Redis replicates asynchronously,
// though: a record written to a master that dies before its replica has
// it is lost with the master, and a retry of that key may run again. The
// tests have not hit that window; where it matters, commit the effect with
// its record (idempotency/sqlstore).
//
// Memory: Redis must never evict a record. Once it reaches maxmemory, any
// maxmemory-policy but noeviction deletes keys to make room: the allkeys-*
// policies any key, the volatile-* ones any key with a TTL, and every
// record has one. A record evicted is a key forgotten, and its retry runs
// the handler a second time. Under noeviction Redis refuses writes
// instead, which the middleware answers 503: never a second run. So the
// Store reads CONFIG GET maxmemory* (a Cluster client: on every master and
// every replica it knows) and refuses any other policy with an error that
// wraps ErrEvictionPolicy and names the nodes, their policies and the fix,
// CONFIG SET maxmemory-policy noeviction. Open checks before it returns;
// New does no I/O, so its Store checks on its first Begin, and fails each
// Begin until the policy is fixed. An evicting policy is refused even with
// maxmemory 0 (no limit), since CONFIG SET maxmemory can set one at run
// time; Options.AllowEviction accepts it, with a warning. A node that
// refuses CONFIG (renamed or disabled, as managed services such as
// ElastiCache do, or NOPERM under an ACL) cannot be checked: the Store
// logs a warning (Options.Logger; slog.Default() for New) and serves, and
// the policy is yours to set. The check is made once per Store.
//
// It is a module of its own so that rtchain's main module does not depend on
// go-redis.
package redisstore
