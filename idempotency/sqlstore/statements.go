package sqlstore

// statements are a Store's SQL, written once for its dialect and table.
//
// A record is one row: in progress while status is NULL, with expires_at
// the end of its lease; completed once status is set, with expires_at the
// end of its TTL. Times are the database's clock, in milliseconds, so that
// instances whose clocks disagree still agree on leases.
type statements struct {
	lock, lockIdle, acquire, load, peek, complete, completedBy, release, extend, renew, sweep string
}

func prepare(d dialect, table string) statements {
	skipLocked := ""
	if d.name == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	return statements{
		lock: d.sql(table, `SELECT pg_try_advisory_xact_lock($1)`),
		// The lock, and the lease of a request's transaction (the longest
		// it may sit idle), in one round trip.
		lockIdle: d.sql(table, `SELECT pg_try_advisory_xact_lock($1), set_config('idle_in_transaction_session_timeout', $2, true)`),
		// Takes the key when it is free, expired, or held in progress by
		// the same owner (a Begin sent twice): one row affected.
		acquire: d.sql(table, `INSERT INTO {t} AS cur (ikey, owner, fingerprint, not_stored, expires_at)
VALUES ($1, $2, $3, FALSE, {now} + $4)
ON CONFLICT (ikey) DO UPDATE SET owner = excluded.owner, fingerprint = excluded.fingerprint,
	status = NULL, header = NULL, body = NULL, not_stored = FALSE, expires_at = excluded.expires_at
WHERE cur.expires_at <= {now} OR (cur.owner = excluded.owner AND cur.status IS NULL)`),
		load: d.sql(table, `SELECT owner, fingerprint, status, header, body, not_stored FROM {t}
WHERE ikey = $1 AND expires_at > {now}`),
		// A completed record, read outside any transaction: a replay costs
		// one round trip.
		peek: d.sql(table, `SELECT owner, fingerprint, status, header, body, not_stored FROM {t}
WHERE ikey = $1 AND status IS NOT NULL AND expires_at > {now}`),
		complete: d.sql(table, `UPDATE {t} SET status = $3, header = $4, body = $5, not_stored = $6, expires_at = {now} + $7
WHERE ikey = $1 AND owner = $2 AND status IS NULL AND expires_at > {now}`),
		completedBy: d.sql(table, `SELECT 1 FROM {t} WHERE ikey = $1 AND owner = $2 AND status IS NOT NULL AND expires_at > {now}`),
		release:     d.sql(table, `DELETE FROM {t} WHERE ikey = $1 AND owner = $2 AND status IS NULL AND expires_at > {now}`),
		extend: d.sql(table, `UPDATE {t} SET expires_at = {now} + $3
WHERE ikey = $1 AND owner = $2 AND status IS NULL AND expires_at > {now}`),
		// A transaction's own record: its lease is the transaction, so the
		// store only checks that the row is still the owner's.
		renew: d.sql(table, `SELECT 1 FROM {t} WHERE ikey = $1 AND owner = $2 AND status IS NULL`),
		sweep: d.sql(table, `DELETE FROM {t} WHERE ikey IN (SELECT ikey FROM {t} WHERE expires_at <= {now} LIMIT $1`+skipLocked+`)`),
	}
}
