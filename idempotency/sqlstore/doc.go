// Package sqlstore is an idempotency store on a SQL database (PostgreSQL,
// SQLite) that closes the window no other store can: the handler's effect
// and its stored response commit in one transaction.
//
// Entry points: New (a Store on a *sql.DB; Options), CreateTable or DDL
// (the table, for a migration tool), Tx (the request's transaction, for the
// handler), DeleteExpired (housekeeping), SQLiteDSN (the connection string
// SQLite wants). The nested package pgtest runs real PostgreSQL servers for
// tests.
//
// A Store is an idempotency.TxStore: idempotency.Middleware runs a keyed
// request's handler with a transaction that already holds the key's
// record, and the handler writes its effect through Tx(r.Context()). Then:
//
//   - An instance that dies anywhere before the commit (its process killed,
//     its connection cut, the database restarted) leaves neither the effect
//     nor the record: the transaction never happened, and the client's
//     retry runs the handler once.
//   - A commit that fails is answered 503 with Retry-After, never with the
//     handler's answer; the retry finds the stored answer if the commit did
//     land after all, or a clean slate if it did not.
//   - A 5xx or a panic rolls both back, so that the retry starts clean.
//   - A duplicate while the first runs gets 409 at once; it never waits for
//     the first request's transaction, nor holds a connection meanwhile.
//   - A request that holds no key gets no transaction (Tx returns nil) and
//     runs as it would without the middleware. A handler that ignores Tx
//     is protected as by any other store, with its answer sent after the
//     commit of its record.
//
// What Tx cannot cover is an effect outside the database: a call to a
// payment provider, an e-mail, a message on a queue. If the instance dies
// after such a call and before the commit, the retry runs the handler
// again and calls again. Give the call the request's key as well (the
// provider's own Idempotency-Key, a message id the consumer deduplicates),
// and call idempotency.Confirm just before it, which checks that the
// transaction still holds the key and renews its lease; or record the
// intent in the transaction and make the call after the commit, from that
// record (an outbox).
//
// # Design
//
// The lease is the transaction itself. BeginTx takes the key by writing its
// record in the request's transaction, uncommitted; no one else can see
// it, so a crash leaves nothing behind. To answer duplicates at once,
// PostgreSQL's transaction also holds a transaction-scoped advisory lock on
// the key (pg_try_advisory_xact_lock, which never waits): any other Begin of
// the key fails to take it and answers "in progress". The lock goes with
// the transaction, whatever ends it. A transaction left idle longer than
// the middleware's Lease (a stalled instance) is ended by the server
// (idle_in_transaction_session_timeout, set for that transaction only): its
// key is free, and its late commit fails, so the stale run commits nothing.
// On SQLite, which has one writer, the store keeps the keys whose
// transactions are open in memory and answers their duplicates from there.
//
// Records taken outside a transaction (Begin, Complete, Release, Extend:
// the plain idempotency.Store, for other protocols sharing the table) are
// committed rows with a lease, on the database's clock; the two kinds of
// record exclude each other.
//
// The trade-offs, and what to do about them:
//
//   - Each keyed request holds one connection of the pool, and one open
//     transaction, for its whole run. Size the pool (db.SetMaxOpenConns) for
//     the keyed requests in flight, plus what the rest of the service uses;
//     a request that waits longer than Options.MaxWait for a connection is
//     answered 503.
//   - A long handler is a long transaction: on PostgreSQL it holds row locks
//     and keeps vacuum from cleaning behind it; on SQLite it is the one
//     writer, so other keyed requests wait (10 s with SQLiteDSN, then 503).
//     Keep the slow parts (calls to other services) out of transactional
//     routes, or before the first write.
//   - The isolation level is the database's default (PostgreSQL: read
//     committed) unless Options.TxOptions says otherwise. Serializable is
//     safe here: a serialization failure fails the commit, which is a 503,
//     and the client's retry runs again.
//   - The answer waits for the commit, so a transactional route does not
//     stream, and an answer over the middleware's MaxResponseBytes is a
//     500 with nothing committed.
//   - One SQLite database is for one process (the keys in flight are kept
//     in memory); for a fleet, use PostgreSQL.
//
// Expired records are overwritten by the next request with their key;
// DeleteExpired removes those of keys never seen again.
package sqlstore
