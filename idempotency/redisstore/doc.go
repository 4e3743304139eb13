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
// It is a module of its own so that rtchain's main module does not depend on
// go-redis.
package redisstore
