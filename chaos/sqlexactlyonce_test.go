package chaos

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtchain/rtchain/idempotency"
	"github.com/rtchain/rtchain/idempotency/sqlstore/pgtest"
	"github.com/rtchain/rtchain/transport"
)

// sqlScenario is one fault on the SQL fleet.
type sqlScenario struct {
	name  string
	calls int
	// uncounted: the faults are Toxiproxy's, which does not count them.
	uncounted bool
	// breaker configures the client's circuit breaker; a zero CoolDown
	// means 300 ms.
	breaker transport.BreakerOptions
	setup   func(t *testing.T, f *sqlFleet, faults *atomic.Int64)
	// during runs alongside the calls; done counts calls ended; faults
	// counts what it did.
	during func(t *testing.T, f *sqlFleet, done, faults *atomic.Int64)
}

// sqlRow is one line of the SQL table.
type sqlRow struct {
	name                                   string
	calls, effects, second, missing, wrong int
	failed, orphanEffects, orphanRecords   int
	retries, faults                        int64
	uncounted                              bool
	took                                   time.Duration
	goroutines, fds, conns                 bool
}

func sqlScenarios(pg *pgtest.Server) []sqlScenario {
	return []sqlScenario{{
		name:  "instance killed after the effect, before the commit; restarted",
		calls: 1000,
		setup: func(t *testing.T, f *sqlFleet, faults *atomic.Int64) {
			var n atomic.Int64
			f.afterEffect = func(in *sqlInstance, r *http.Request) {
				// One request in 20, while the whole fleet has been up
				// for 300 ms: one instance dies at a time, and the client
				// has a live one to fail over to.
				if n.Add(1)%20 != 0 || !f.upFor(300*time.Millisecond) {
					return
				}
				if in.kill() {
					faults.Add(1)
					in.restartAfter(200 * time.Millisecond)
				}
				panic(http.ErrAbortHandler) // the process is gone: no answer, no commit
			}
		},
	}, {
		name:  "backends terminated mid-transaction",
		calls: 500,
		// Both instances fail together: a breaker has nowhere to fail over.
		breaker: transport.BreakerOptions{Disabled: true},
		during: func(t *testing.T, f *sqlFleet, done, faults *atomic.Int64) {
			for done.Load() < 480 {
				n, err := pg.Terminate(f.database, "state = 'idle in transaction'")
				if err != nil {
					t.Error(err)
					return
				}
				faults.Add(int64(n))
				time.Sleep(15 * time.Millisecond) // the pace of the fault
			}
		},
	}, {
		name:  "PostgreSQL killed (SIGKILL) and restarted",
		calls: 500,
		// Both instances fail together: a breaker has nowhere to fail over.
		breaker: transport.BreakerOptions{Disabled: true},
		during: func(t *testing.T, f *sqlFleet, done, faults *atomic.Int64) {
			for _, at := range []int64{100, 300} {
				for done.Load() < at {
					time.Sleep(time.Millisecond) // waiting for the run to get there
				}
				pg.Kill()
				faults.Add(1)
				time.Sleep(300 * time.Millisecond) // the database is down
				if err := pg.Restart(); err != nil {
					t.Error(err)
					return
				}
			}
		},
	}, {
		name:      "database network: latency, connections reset",
		calls:     500,
		uncounted: true,
		breaker:   transport.BreakerOptions{Disabled: true},
		setup: func(t *testing.T, f *sqlFleet, faults *atomic.Int64) {
			for _, in := range f.inst {
				addToxic(t, in.toDB, toxic{"latency", "downstream", 1, `{"latency": 3, "jitter": 3}`})
				// One connection in ten reset 200 ms after it opens.
				addToxic(t, in.toDB, toxic{"reset_peer", "upstream", 0.1, `{"timeout": 200}`})
			}
		},
	}}
}

// runSQLScenarios is TestExactlyOnceUnderFaults on PostgreSQL, through
// sqlstore: the effect commits with its record, so no scenario may show a
// second effect, even where an instance died between them.
func runSQLScenarios(t *testing.T) {
	pg := pgtest.Start(t)
	var rows []sqlRow
	for i, sc := range sqlScenarios(pg) {
		t.Run("sql: "+sc.name, func(t *testing.T) {
			rows = append(rows, runSQLScenario(t, pg, sc, fmt.Sprintf("chaos_sql_%d", i)))
		})
	}
	total := 0
	var table strings.Builder
	table.WriteString("\n| scenario (PostgreSQL, sqlstore) | keyed calls | ledger rows | second effects | acknowledged, not charged | not the original | effects without a record / records without an effect | ended in an error | retries | faults | took | goroutines, fds, database conns back |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		total += r.calls
		faults := fmt.Sprint(r.faults)
		if r.uncounted {
			faults = "not counted"
		}
		fmt.Fprintf(&table, "| %s | %d | %d | %d | %d | %d | %d / %d | %d | %d | %s | %v | %v, %v, %v |\n",
			r.name, r.calls, r.effects, r.second, r.missing, r.wrong, r.orphanEffects, r.orphanRecords,
			r.failed, r.retries, faults, r.took.Round(100*time.Millisecond), r.goroutines, r.fds, r.conns)
	}
	t.Logf("exactly once on PostgreSQL, %d keyed calls:%s", total, table.String())
	if len(rows) == 4 && total < 2000 {
		t.Errorf("%d keyed calls on PostgreSQL, fewer than 2,000", total)
	}
}

func runSQLScenario(t *testing.T, pg *pgtest.Server, sc sqlScenario, database string) sqlRow {
	f := newSQLFleet(t, pg, database, idempotency.Options{Lease: 2 * time.Second, RetryAfter: 100 * time.Millisecond})
	var faults atomic.Int64
	if sc.setup != nil {
		sc.setup(t, f, &faults)
	}
	// The database's own process has a goroutine waiting for it: a
	// restarted server has a new one.
	base := takeBaseline(t, "database connections", func() (int, error) { return pg.Conns(database) },
		goleak.IgnoreAnyFunction("github.com/rtchain/rtchain/idempotency/sqlstore/pgtest.(*Server).Restart.func1"))
	f.start()
	var retries atomic.Int64
	breaker := sc.breaker
	if !breaker.Disabled && breaker.CoolDown == 0 {
		breaker.CoolDown = 300 * time.Millisecond
	}
	client, pool := keyedClient(f.hosts(), 2*time.Second, breaker, &retries)

	got := make([]outcome, sc.calls)
	var done atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				got[i] = send(client, f.inst[0].addr, fmt.Sprintf("k-%d", i), fmt.Sprint(i, " EUR"))
				done.Add(1)
			}
		})
	}
	var during sync.WaitGroup
	if sc.during != nil {
		during.Go(func() { sc.during(t, f, &done, &faults) })
	}
	start := time.Now()
	for i := range sc.calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	during.Wait()
	f.close()
	pool.CloseIdleConnections()

	r := sqlRow{name: sc.name, calls: sc.calls, took: took, retries: retries.Load(), faults: faults.Load(), uncounted: sc.uncounted}
	ledger := map[string][]int64{} // key → its rows
	amounts := map[int64]string{}
	rows, err := f.admin.Query("SELECT id, ikey, amount FROM ledger")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var key, amount string
		if err := rows.Scan(&id, &key, &amount); err != nil {
			t.Fatal(err)
		}
		ledger[key] = append(ledger[key], id)
		amounts[id] = amount
		r.effects++
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for i, o := range got {
		key := fmt.Sprintf("k-%d", i)
		ids := ledger[key]
		switch {
		case o.err != nil || o.status != http.StatusCreated:
			r.failed++
			if r.failed <= 3 {
				t.Logf("call %d ended in an error: %d %q %v", i, o.status, o.body, o.err)
			}
		case len(ids) == 0:
			r.missing++
			t.Errorf("call %d: acknowledged (%q), but not in the ledger", i, o.body)
		case o.body != sqlAnswer(key, amounts[ids[0]], ids[0]):
			r.wrong++
			t.Errorf("call %d answered %q; the ledger holds row %d", i, o.body, ids[0])
		}
	}
	for key, ids := range ledger {
		if len(ids) > 1 {
			r.second += len(ids) - 1
			t.Errorf("%s charged %d times: rows %v", key, len(ids), ids)
		}
	}
	// The two commit together: every ledger row has its stored answer,
	// and every stored answer its row.
	for q, n := range map[string]*int{
		"SELECT count(*) FROM ledger l WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.ikey LIKE '%:' || l.ikey AND k.status IS NOT NULL)": &r.orphanEffects,
		"SELECT count(*) FROM idempotency_keys k WHERE k.status = 201 AND NOT EXISTS (SELECT 1 FROM ledger l WHERE k.ikey LIKE '%:' || l.ikey)":       &r.orphanRecords,
	} {
		if err := f.admin.QueryRow(q).Scan(n); err != nil {
			t.Fatal(err)
		}
		if *n > 0 {
			t.Errorf("%d: %s", *n, q)
		}
	}
	r.goroutines, r.fds, r.conns = base.settled(t)
	if r.failed > sc.calls/100 {
		t.Errorf("%d of %d calls ended in an error", r.failed, sc.calls)
	}
	return r
}
