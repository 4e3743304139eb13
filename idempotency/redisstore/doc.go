// Package redisstore keeps idempotency.Middleware's records in Redis, so
// that every instance of a service behind a load balancer agrees on each
// Idempotency-Key: a retry that fails over to another instance is answered
// from the record the first instance stored, and never runs twice.
//
// Entry points: New (a Store over a go-redis v9 UniversalClient: a single
// node, a Sentinel failover client or a Cluster client) and Store, which
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
// It is a module of its own so that rtchain's main module does not depend on
// go-redis.
package redisstore
