package postgres

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/ports"
	"github.com/webhookd/webhookd/ports/porttest"
)

func TestQueueStatsContract(t *testing.T) {
	t.Parallel()
	requireDB(t)
	porttest.RunQueueStats(t, func(t *testing.T) porttest.StatsStore {
		s, _, _ := newTestStore(t)
		return s
	})
}

// Finished rows are estimated from the statistics: nothing before the
// first ANALYZE, the exact counts after one that read every row, and the
// estimate follows the table's growth between two ANALYZEs.
func TestQueueStatsEstimatesFinishedRows(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	bulkFinished(t, s, 3000, 0.1)
	bulkDue(t, s, 7)
	stats := func() ports.QueueStats {
		t.Helper()
		st, err := s.QueueStats(ctx, ports.QueueStatsParams{Finished: true})
		if err != nil {
			t.Fatal(err)
		}
		if !st.Estimated || st.Pending != 7 || st.Delivering != 0 {
			t.Fatalf("QueueStats = %+v; want estimated, 7 pending (exact), none delivering", st)
		}
		return st
	}
	if st := stats(); st.Succeeded != 0 || st.Dead != 0 {
		t.Errorf("before any ANALYZE: %+v; want no estimate (zero)", st)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE deliveries`); err != nil {
		t.Fatal(err)
	}
	exact := func(status string) int64 {
		var n int64
		if err := db.NewRaw(`SELECT count(*) FROM deliveries WHERE status = ?`, status).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	succeeded, dead := exact("succeeded"), exact("dead")
	if st := stats(); st.Succeeded != succeeded || st.Dead != dead {
		t.Errorf("after ANALYZE (every row sampled): %d succeeded, %d dead; want %d and %d", st.Succeeded, st.Dead, succeeded, dead)
	}
	bulkFinished(t, s, 3000, 0.1) // the table doubles; no ANALYZE since
	if st := stats(); st.Succeeded+st.Dead < 5000 || st.Succeeded+st.Dead > 7000 {
		t.Errorf("after doubling the table: %d finished estimated; want about 6,000", st.Succeeded+st.Dead)
	}
}

// QueueStats reads the claim's partial indexes, never the history: with
// 20,000 finished rows analyzed, no plan node scans deliveries except
// through an index of pending or delivering rows.
func TestQueueStatsPlanIgnoresFinishedRows(t *testing.T) {
	t.Parallel()
	s, db, _ := newTestStore(t)
	ctx := t.Context()
	bulkFinished(t, s, 20_000, 0.1)
	bulkDue(t, s, 5)
	if _, err := db.ExecContext(ctx, `ANALYZE events, deliveries`); err != nil {
		t.Fatal(err)
	}
	args := struct{ Now dbNow }{dbNow{nil}}
	root := explainJSON(t, db, "EXPLAIN (FORMAT JSON) "+queueStatsSQL, args)
	partial := map[string]bool{"deliveries_pending_due_idx": true, "deliveries_lease_expiry_idx": true,
		"deliveries_pending_origin_idx": true}
	scans := 0
	for _, n := range root.all() {
		if n.Relation != "deliveries" {
			continue
		}
		scans++
		if !partial[n.Index] {
			t.Errorf("plan reads deliveries with a %s (index %q), not a partial index of the queue", n.NodeType, n.Index)
		}
	}
	if scans != 4 {
		t.Errorf("plan scans deliveries %d times, want 4 (two counts, two minimums)", scans)
	}
	start := time.Now()
	if _, err := s.QueueStats(ctx, ports.QueueStatsParams{Finished: true}); err != nil {
		t.Fatal(err)
	}
	t.Logf("QueueStats with 20,000 finished rows: %s", time.Since(start))
}

// bulkFinished stores n finished deliveries, a share of them dead.
func bulkFinished(t *testing.T, s *Store, n int, dead float64) {
	t.Helper()
	_, err := s.db.ExecContext(t.Context(), `
		WITH ev AS (
			INSERT INTO events (id, target_url, origin, body, created_at)
			SELECT gen_random_uuid(), 'https://m.example/hook', 'https://m.example:443', '\x7b7d'::bytea,
			       now() - g * interval '1 second'
			FROM generate_series(1, ?) AS g
			RETURNING id, target_url, origin, created_at
		)
		INSERT INTO deliveries (id, event_id, target_url, origin, status, attempted_count, next_attempt_at,
		                        created_at, updated_at, last_attempted_at, last_status_code)
		SELECT id, id, target_url, origin, CASE WHEN random() < ? THEN 'dead' ELSE 'succeeded' END, 1,
		       created_at, created_at, created_at, created_at, 200
		FROM ev`, n, dead)
	if err != nil {
		t.Fatalf("bulk insert of finished deliveries: %v", err)
	}
}
