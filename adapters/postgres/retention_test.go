package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestPurgerContract(t *testing.T) {
	t.Parallel()
	requireDB(t)
	porttest.RunPurger(t, func(t *testing.T) porttest.PurgeStore {
		s, _, _ := newTestStore(t)
		return s
	})
}

const (
	keepSucceeded = 168 * time.Hour
	keepDead      = 720 * time.Hour
)

// begin opens a transaction that t rolls back when it ends (or before).
func begin(t *testing.T, db *bun.DB) bun.Tx {
	t.Helper()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

// finished inserts a target_url event at T0 and finishes its delivery at
// T0+1s with decision d.
func finished(t *testing.T, s *Store, d core.Decision) core.EventID {
	t.Helper()
	ctx := t.Context()
	at0, at1 := porttest.T0, porttest.T0.Add(time.Second)
	e := porttest.NewEvent(t, "https://m.example/hook", `{}`)
	if _, err := s.Insert(ctx, ports.InsertParams{Event: e, Now: &at0}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, ports.ClaimParams{Worker: "w1", Limit: 1, Lease: time.Minute, MaxAttempts: 10, Now: &at1})
	if err != nil || len(c) != 1 || c[0].ID != e.ID {
		t.Fatalf("Claim = %v, %v", c, err)
	}
	err = s.Complete(ctx, ports.CompleteParams{Worker: "w1", Claim: ports.Claim{ID: e.ID, Attempt: 1, Seq: c[0].ClaimSeq},
		Decision: d, Record: core.Attempt{StartedAt: at1, StatusCode: d.StatusCode}, Now: &at1})
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// A purge never waits: not for a claim in flight, nor for a replay under
// way (its event is kept), nor for another dispatcher's purge (what it
// holds is skipped). And a claim never waits for a purge in flight.
func TestPurgeNeverWaits(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	ok := core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200}
	free, replayed, purging := finished(t, s, ok), finished(t, s, ok), finished(t, s, ok)
	later := porttest.T0.Add(8 * 24 * time.Hour)
	due := porttest.NewEvent(t, "https://m.example/hook", `{"due":1}`)
	if _, err := s.Insert(ctx, ports.InsertParams{Event: due, Now: &later}); err != nil {
		t.Fatal(err)
	}

	// A claim in flight (its statement run, not committed) holds the due
	// delivery; a replay under way holds one finished delivery; another
	// purge holds one event.
	claiming := begin(t, s.queue)
	if claimed := claimInTx(t, s, claiming, ports.ClaimParams{Now: &later, Worker: "w2", Limit: 10, Lease: time.Minute, MaxAttempts: 10}); len(claimed) != 1 {
		t.Fatalf("claim in a transaction: %d rows", len(claimed))
	}
	replaying := begin(t, db)
	if _, err := replaying.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', updated_at = ? WHERE id = ?`,
		later, string(replayed)); err != nil {
		t.Fatal(err)
	}
	other := begin(t, db)
	if _, err := other.ExecContext(ctx, `SELECT 1 FROM events WHERE id = ? FOR UPDATE`, string(purging)); err != nil {
		t.Fatal(err)
	}

	params := ports.PurgeParams{Succeeded: keepSucceeded, Dead: keepDead, Limit: 10, Now: &later}
	bounded, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := s.Purge(bounded, params)
	cancel()
	if err != nil {
		t.Fatalf("Purge beside held rows: %v (it waited?)", err)
	}
	if res != (ports.PurgeResult{Events: 1, Deliveries: 1}) {
		t.Errorf("Purge beside held rows = %+v, want only the free event", res)
	}
	if _, err := s.Event(ctx, free); err == nil {
		t.Errorf("the free event %s was kept", free)
	}

	// A purge in flight (run, not committed) does not hold up a claim.
	_ = claiming.Rollback()
	_ = other.Rollback()
	purgeTx := begin(t, db)
	var events, deliveries int
	if err := purgeTx.NewRaw(purgeSQL, &purgeArgs{OkCut: cutoff{dbNow{&later}, keepSucceeded},
		DeadCut: cutoff{dbNow{&later}, keepDead}, Limit: 10}).Scan(ctx, &events, &deliveries); err != nil || events != 1 {
		t.Fatalf("purge in a transaction: %d events, %v; want the event no one holds now", events, err)
	}
	bounded, cancel = context.WithTimeout(ctx, 5*time.Second)
	got, err := s.Claim(bounded, ports.ClaimParams{Worker: "w3", Limit: 10, Lease: time.Minute, MaxAttempts: 10, Now: &later})
	cancel()
	if err != nil || len(got) != 1 || got[0].ID != due.ID {
		t.Fatalf("Claim beside a purge in flight = %v, %v; want %s at once", got, err, due.ID)
	}
	_ = purgeTx.Rollback()

	// The replay commits: its event is kept, the other one goes.
	if err := replaying.Commit(); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Purge(ctx, params); err != nil || res != (ports.PurgeResult{Events: 1, Deliveries: 1}) {
		t.Errorf("Purge after the replay = %+v, %v; want the event the other purge held", res, err)
	}
	if _, err := s.Event(ctx, replayed); err != nil {
		t.Errorf("replayed event: %v, want it kept", err)
	}
}

// TestPurgePlanReadsOnlyOldRows proves that a purge finds what it deletes
// through the finished-updated partial index, reading old rows only: not
// the recent finished bulk, nor the deliveries created before the cutoff
// that finished after it (retried for days), which the listing index
// (status, created_at) could not leave out. Asked for the events routed to
// nobody, it walks events_created_idx from the cutoff down, never over
// recent events.
func TestPurgePlanReadsOnlyOldRows(t *testing.T) {
	t.Parallel()
	_, db, _ := newTestStore(t)
	ctx := t.Context()
	bulk := func(n int, created, updated, status string) {
		t.Helper()
		_, err := db.ExecContext(ctx, `
			WITH ev AS (
				INSERT INTO events (id, target_url, origin, body, created_at)
				SELECT gen_random_uuid(), 'https://m.example/hook', 'https://m.example:443', '\x7b7d'::bytea, `+created+`
				FROM generate_series(1, ?)
				RETURNING id, target_url, origin, created_at
			)
			INSERT INTO deliveries (id, event_id, target_url, origin, status, attempted_count, next_attempt_at,
			                        created_at, updated_at, last_attempted_at)
			SELECT id, id, target_url, origin, `+status+`, 1, created_at, created_at, `+updated+`, created_at
			FROM ev`, n)
		if err != nil {
			t.Fatalf("bulk insert: %v", err)
		}
	}
	recentStatus := "CASE WHEN random() < 0.1 THEN 'dead' ELSE 'succeeded' END"
	// 50,000 finished in the last days, 20,000 created 40 days ago that
	// died or succeeded yesterday, and the old: 5 succeeded 10 days ago, 3
	// dead 40 days ago.
	bulk(50_000, "now() - random() * interval '6 days'", "created_at + interval '1 minute'", recentStatus)
	bulk(20_000, "now() - interval '40 days'", "now() - interval '1 day'", recentStatus)
	bulk(5, "now() - interval '10 days'", "now() - interval '10 days'", "'succeeded'")
	bulk(3, "now() - interval '41 days'", "now() - interval '40 days'", "'dead'")
	// Fan-out events, two endpoint deliveries each (ids of their own, so
	// found through deliveries_fanout_event_idx): 2,000 recent, 2 old.
	fanout := func(n int, created, updated string) {
		t.Helper()
		_, err := db.ExecContext(ctx, `
			WITH ev AS (
				INSERT INTO events (id, event_type, body, created_at)
				SELECT gen_random_uuid(), 'order.paid', '\x7b7d'::bytea, `+created+`
				FROM generate_series(1, ?)
				RETURNING id, created_at
			)
			INSERT INTO deliveries (id, event_id, endpoint_id, target_url, origin, status, attempted_count,
			                        next_attempt_at, created_at, updated_at, last_attempted_at)
			SELECT gen_random_uuid(), ev.id, gen_random_uuid(), 'https://e'||k||'.example/hook', 'https://e'||k||'.example:443',
			       'succeeded', 1, created_at, created_at, `+updated+`, created_at
			FROM ev CROSS JOIN generate_series(1, 2) AS k`, n)
		if err != nil {
			t.Fatalf("fan-out insert: %v", err)
		}
	}
	fanout(2_000, "now() - random() * interval '6 days'", "created_at + interval '1 minute'")
	fanout(2, "now() - interval '10 days'", "now() - interval '10 days'")
	// 5,000 recent events routed to nobody, and 2 old ones.
	if _, err := db.ExecContext(ctx, `
		INSERT INTO events (id, event_type, body, created_at)
		SELECT gen_random_uuid(), 'nobody.listens', '\x7b7d'::bytea,
		       CASE WHEN g <= 2 THEN now() - interval '9 days' ELSE now() - random() * interval '6 days' END
		FROM generate_series(1, 5002) AS g`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE events, deliveries`); err != nil {
		t.Fatal(err)
	}
	ok, dead := cutoff{dbNow{}, keepSucceeded}, cutoff{dbNow{}, keepDead}
	for _, tc := range []struct {
		name      string
		args      *purgeArgs
		maxBlocks int
		want      ports.PurgeResult
	}{
		// The usual call: finished deliveries only.
		{"deliveries", &purgeArgs{OkCut: ok, DeadCut: dead, Limit: 500}, 400, ports.PurgeResult{Events: 10, Deliveries: 12}},
		// With the events routed to nobody (asked for seldom): it also
		// reads each event older than the cutoff that is kept (the 20,000
		// retried ones here), one index probe each, but no recent one.
		{"unrouted", &purgeArgs{OkCut: ok, DeadCut: dead, UnroutedCut: ok, Limit: 500}, 6 * 20_000,
			ports.PurgeResult{Events: 2, Deliveries: 0}},
	} {
		var text []string
		if err := db.NewRaw("EXPLAIN "+purgeSQL, tc.args).Scan(ctx, &text); err != nil {
			t.Fatal(err)
		}
		t.Logf("EXPLAIN purge (%s), 77,000 events, 12 old:\n%s", tc.name, strings.Join(text, "\n"))
		checkPurgePlan(t, explainJSON(t, db, "EXPLAIN (FORMAT JSON) "+purgeSQL, tc.args), tc.args.UnroutedCut.keep > 0)

		// Run it (then roll back), then for real.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		root := explainJSON(t, tx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+purgeSQL, tc.args)
		_ = tx.Rollback()
		blocks := root.SharedHit + root.SharedRead
		t.Logf("EXPLAIN ANALYZE purge (%s): %.3f ms, %d buffers", tc.name, root.ActualTotalTime, blocks)
		if blocks > tc.maxBlocks {
			t.Errorf("purge (%s) touched %d buffers, want at most %d: it reads rows that are not old enough", tc.name, blocks, tc.maxBlocks)
		}
		var got ports.PurgeResult
		if err := db.NewRaw(purgeSQL, tc.args).Scan(ctx, &got.Events, &got.Deliveries); err != nil || got != tc.want {
			t.Errorf("purge (%s) = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
		// No foreign key cascades: the statement deletes the deliveries.
		var orphans, rows int
		if err := db.NewRaw(`SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id)), count(*)
			FROM deliveries d`).Scan(ctx, &orphans, &rows); err != nil || orphans != 0 || rows != 70_000+4_000 {
			t.Errorf("after the purge (%s): %d deliveries without their event, %d in all (%v); want 0 and %d", tc.name, orphans, rows, err, 74_000)
		}
	}
}

// checkPurgePlan checks that nothing in the statement reads events or
// deliveries whole: the candidates are walked in order off
// deliveries_finished_updated_idx and events_created_idx, and every other
// read is by key (an event's deliveries in their two parts, an event's
// row).
func checkPurgePlan(t *testing.T, root planNode, unrouted bool) {
	t.Helper()
	// "= ANY (ARRAY(...))" of at most ?limit keys may make a bitmap.
	byKey := map[string]bool{"deliveries_pkey": true, "deliveries_fanout_event_idx": true, "events_pkey": true,
		"delivery_attempts_pkey": true}
	used := map[string]bool{}
	for _, n := range root.all() {
		used[n.Index] = true
		if (n.Relation == "deliveries" || n.Relation == "events" || n.Relation == "delivery_attempts") && n.NodeType == "Seq Scan" {
			t.Errorf("plan has a Seq Scan on %s", n.Relation)
		}
		if n.NodeType == "Bitmap Index Scan" && !byKey[n.Index] {
			t.Errorf("plan reads %s into a bitmap, not in order", n.Index)
		}
		if n.NodeType == "Sort" && (n.reads("deliveries") || n.reads("events")) {
			t.Errorf("plan sorts rows read from a table (Sort Key %v)", n.SortKey)
		}
		if n.SubplanName != "CTE candidates" {
			continue
		}
		for _, m := range n.all() {
			switch {
			case m.Relation == "deliveries" && m.Index != "deliveries_finished_updated_idx" && m.Index != "deliveries_pkey" &&
				m.Index != "deliveries_fanout_event_idx",
				m.Relation == "events" && m.Index != "events_created_idx":
				t.Errorf("the candidates are looked for with a %s on %s %s", m.NodeType, m.Relation, m.Index)
			}
		}
	}
	want := []string{"deliveries_finished_updated_idx", "deliveries_pkey", "deliveries_fanout_event_idx", "events_pkey",
		"delivery_attempts_pkey"}
	if unrouted {
		want = append(want, "events_created_idx")
	}
	for _, idx := range want {
		if !used[idx] {
			t.Errorf("plan does not use %s", idx)
		}
	}
}

// No foreign key ties attempts to their delivery any more: a purge deletes
// the attempts of the deliveries it deletes, and only those.
func TestPurgeDeletesItsDeliveriesAttempts(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	ok := core.Decision{Verdict: core.VerdictSucceeded, Status: core.StatusSucceeded, StatusCode: 200}
	dead := core.Decision{Verdict: core.VerdictDead, Status: core.StatusDead, StatusCode: 410}
	purged, kept := finished(t, s, ok), finished(t, s, dead)
	attempts := func(id core.EventID) (n int) {
		t.Helper()
		if err := db.NewRaw(`SELECT count(*) FROM delivery_attempts WHERE delivery_id = ?`, string(id)).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if attempts(purged) != 1 || attempts(kept) != 1 {
		t.Fatalf("attempts before the purge: %d and %d, want 1 each", attempts(purged), attempts(kept))
	}
	later := porttest.T0.Add(8 * 24 * time.Hour)
	res, err := s.Purge(ctx, ports.PurgeParams{Succeeded: keepSucceeded, Dead: keepDead, Limit: 10, Now: &later})
	if err != nil || res.Events != 1 || res.Deliveries != 1 {
		t.Fatalf("Purge = %+v, %v; want the succeeded event only", res, err)
	}
	if n := attempts(purged); n != 0 {
		t.Errorf("the purged delivery still has %d attempt(s)", n)
	}
	if n := attempts(kept); n != 1 {
		t.Errorf("the kept delivery has %d attempt(s), want 1", n)
	}
}
