package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtchain/rtchain/idempotency"
)

// Store is an idempotency.Store on Redis: one hash per key, named
// prefix+key, with the owner's token (o), the request's fingerprint (f) and,
// once completed, the response (s, h, b, n). Every operation is one Lua
// script, so each is atomic and one round trip: a first request costs two
// (Begin, Complete), a replay one. A record is one Redis key, so it lives in
// one hash slot and the store works with Redis Cluster.
//
// Redis must not evict its records: a Store refuses a server whose
// maxmemory-policy is not noeviction (see Open and New).
//
// It implements idempotency.Extender (idempotency.Confirm's fence), and is
// safe for concurrent use.
type Store struct {
	rdb           redis.UniversalClient
	prefix        string
	allowEviction bool
	logger        *slog.Logger // nil: slog.Default() when it logs
	// checked is set once the servers' maxmemory-policy has passed (see
	// verify).
	checked atomic.Bool
	// reloaded is when a Cluster client's slots were last reloaded, in
	// Unix ns (see heal).
	reloaded atomic.Int64
}

var (
	_ idempotency.Store    = (*Store)(nil)
	_ idempotency.Extender = (*Store)(nil)
)

// New returns a Store that keeps its records in rdb under keys that start
// with prefix (say "idem:"), so that they stay apart from the rest of the
// database. It panics if rdb is nil.
//
// New does no I/O, so that a service may start while Redis is down; its
// Store makes Open's check of the maxmemory-policy, with Options' zero
// value, on its first Begin instead (one more round trip, once), and on
// each Begin until the check passes. While a node's policy may evict
// records, Begin fails with an error that wraps ErrEvictionPolicy, which
// idempotency.Middleware answers 503 (nothing runs); the Store serves as
// soon as the policy is noeviction, with no restart. A node that refuses
// CONFIG is accepted with a warning to slog.Default(). To learn of a wrong
// policy at start, or to set Options, use Open.
func New(rdb redis.UniversalClient, prefix string) *Store {
	if rdb == nil {
		panic("redisstore: nil client")
	}
	return &Store{rdb: rdb, prefix: prefix}
}

// Open returns a Store as New does, once it has checked that Redis will
// not evict the Store's records: it reads CONFIG GET maxmemory* from the
// server (a Cluster client: from every master and every replica it knows,
// since a replica becomes a master at failover; a Ring: from every live
// shard; a Sentinel failover client: from the master of the moment).
//
//   - maxmemory-policy noeviction on every node: the Store.
//   - any other policy on any node: an error that wraps ErrEvictionPolicy
//     and names the nodes, their policies and the fix (CONFIG SET
//     maxmemory-policy noeviction), unless o.AllowEviction, which logs a
//     warning instead. The store's records carry a TTL, so the volatile-*
//     policies may evict them as well as the allkeys-* ones. It refuses even
//     with maxmemory 0 (no limit, so nothing is evicted yet): CONFIG SET
//     maxmemory can set a limit at any time, and nothing would check again.
//   - a node that refuses CONFIG (renamed or disabled, as on most managed
//     Redis services, or NOPERM under an ACL): a warning to o.Logger per
//     node, and the Store. Its policy is then yours to keep at noeviction
//     (a managed service's parameter group).
//   - a node that cannot be reached, or answers LOADING, BUSY, NOAUTH and
//     the like: that error (a Cluster replica: a warning), so that nothing
//     goes unchecked; New starts without Redis.
//
// The check is made once: a policy changed later, or a node added to a
// Cluster or promoted by Sentinel later, is not seen. Keep noeviction in
// every node's configuration.
func Open(ctx context.Context, rdb redis.UniversalClient, prefix string, o Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	s := &Store{rdb: rdb, prefix: prefix, allowEviction: o.AllowEviction, logger: o.Logger}
	if err := s.verify(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// begin returns the record if there is one, unless the owner holds it in
// progress already (a Begin sent again after its reply was lost: go-redis
// retries a command on a broken connection); otherwise it creates one in
// progress for the owner, with the lease as its expiry. It returns nothing
// when the owner holds the key.
var begin = redis.NewScript(`
local v = redis.call('HGETALL', KEYS[1])
if #v > 0 and (redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 's') == 1) then return v end
redis.call('HSET', KEYS[1], 'o', ARGV[1], 'f', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {}
`)

// complete stores the response if the owner still holds the record in
// progress; it returns 1 if it did, or if the owner's response is stored
// already (a Complete sent again after its reply was lost).
var complete = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[1], 's') == 1 then return 1 end
redis.call('HSET', KEYS[1], 's', ARGV[3], 'h', ARGV[4], 'b', ARGV[5], 'n', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// release deletes the record if the owner still holds it in progress; it
// returns 1 if it did.
var release = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 's') == 1 then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// extend sets the lease of a record in progress to ARGV[2] ms if the owner
// still holds it; it returns 1 if it did.
var extend = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 's') == 1 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// Begin implements idempotency.Store.
func (s *Store) Begin(ctx context.Context, key string, r idempotency.Record, lease time.Duration) (idempotency.Record, bool, error) {
	if !s.checked.Load() {
		if err := s.verify(ctx); err != nil {
			return idempotency.Record{}, false, err
		}
	}
	v, err := begin.Run(ctx, s.rdb, []string{s.prefix + key}, r.Owner, r.Fingerprint, millis(lease)).StringSlice()
	if err != nil {
		s.heal(ctx)
		return idempotency.Record{}, false, fmt.Errorf("redisstore: begin: %w", err)
	}
	if len(v) == 0 {
		return idempotency.Record{}, true, nil
	}
	fields := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		fields[v[i]] = v[i+1]
	}
	rec, err := decode(fields)
	if err != nil {
		return idempotency.Record{}, false, fmt.Errorf("redisstore: record %q: %w", key, err)
	}
	return rec, false, nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, owner string, resp *idempotency.Response, ttl time.Duration) error {
	header, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("redisstore: complete: %w", err)
	}
	notStored := "0"
	if resp.NotStored {
		notStored = "1"
	}
	done, err := complete.Run(ctx, s.rdb, []string{s.prefix + key},
		owner, millis(ttl), resp.Status, header, resp.Body, notStored).Int()
	return s.result(ctx, "complete", done, err)
}

// Extend implements idempotency.Extender: one round trip.
func (s *Store) Extend(ctx context.Context, key, owner string, lease time.Duration) error {
	done, err := extend.Run(ctx, s.rdb, []string{s.prefix + key}, owner, millis(lease)).Int()
	return s.result(ctx, "extend", done, err)
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	done, err := release.Run(ctx, s.rdb, []string{s.prefix + key}, owner).Int()
	return s.result(ctx, "release", done, err)
}

func (s *Store) result(ctx context.Context, op string, done int, err error) error {
	switch {
	case err != nil:
		s.heal(ctx)
		return fmt.Errorf("redisstore: %s: %w", op, err)
	case done != 1:
		return idempotency.ErrLeaseLost
	}
	return nil
}

// reloadEvery bounds how often heal reloads a Cluster client's slots.
const reloadEvery = 200 * time.Millisecond

// heal reloads the slots of a Redis Cluster client after a failed command.
// go-redis reloads them on a MOVED reply, but not when the master of a slot
// cannot be reached at all: after a master dies and its replica takes
// over, its slots would go on failing until something else reloads them
// (seen for 15 s and more). Other clients need nothing.
func (s *Store) heal(ctx context.Context) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	last := s.reloaded.Load()
	if now-last < int64(reloadEvery) || !s.reloaded.CompareAndSwap(last, now) {
		return
	}
	cc.ReloadState(ctx)
}

// millis is d in whole milliseconds, at least 1 (PEXPIRE's unit).
func millis(d time.Duration) int64 {
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}

var errBadRecord = errors.New("malformed record")

// decode reads a record's hash fields. A record written by another version,
// or by hand, is an error, never a panic or a made-up response.
func decode(f map[string]string) (idempotency.Record, error) {
	rec := idempotency.Record{Owner: f["o"], Fingerprint: f["f"]}
	if rec.Owner == "" || rec.Fingerprint == "" {
		return idempotency.Record{}, fmt.Errorf("%w: no owner or fingerprint", errBadRecord)
	}
	s, done := f["s"]
	if !done {
		return rec, nil // in progress
	}
	status, err := strconv.Atoi(s)
	if err != nil || status < 100 || status > 999 {
		return idempotency.Record{}, fmt.Errorf("%w: status %q", errBadRecord, s)
	}
	resp := &idempotency.Response{Status: status, NotStored: f["n"] == "1"}
	if h := f["h"]; h != "" && h != "null" {
		if err := json.Unmarshal([]byte(h), &resp.Header); err != nil {
			return idempotency.Record{}, fmt.Errorf("%w: header: %v", errBadRecord, err)
		}
	}
	if !resp.NotStored {
		resp.Body = []byte(f["b"])
	}
	rec.Response = resp
	return rec, nil
}
