// Package chaos runs both halves of rtchain through real faults, as a
// module of its own so that Toxiproxy never enters rtchain's go.mod.
//
// TestChaos sends a mixed workload (GET, PUT, keyed POST) through rtchain's
// default chain and an embedded Toxiproxy that resets, stalls, slows,
// slices and cuts connections, and checks every byte both ways.
//
// TestExactlyOnceUnderFaults sends keyed payments through a keyed rtchain
// client to a fleet of two instances behind idempotency.Middleware on a
// real redis-server (started by redistest), with Toxiproxy between the
// client and each instance and between each instance and Redis, one fault
// at a time: network faults, an instance killed after its effect and
// restarted, an instance stalled past its lease (the handler's
// idempotency.Confirm fences it off), Redis killed and restarted, Redis slow
// and cutting connections, a duplicate storm. It prints docs/reliability.md's
// Reliability table, and checks that goroutines, file descriptors and Redis
// connections return to their baseline after each scenario. Then the same
// on PostgreSQL (started by pgtest) through idempotency/sqlstore, whose
// handler's effect is a ledger INSERT with no unique key written in the
// request's transaction: an instance killed after the effect and before the
// commit, backends terminated mid-transaction, PostgreSQL killed and
// restarted, latency and resets between each instance and the database (a
// Toxiproxy each); no scenario may leave a second ledger row, a row without
// its stored answer or an answer without its row.
package chaos
