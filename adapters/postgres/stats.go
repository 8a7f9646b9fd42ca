package postgres

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Stats = (*Store)(nil)

// queueStatsSQL sizes the queue through the claim's partial indexes
// (pending on next_attempt_at, delivering on lease_expires_at), never the
// history: the counts are index-only scans of pending and delivering rows,
// the oldest due the first entry of each index. The age is the database's
// now() minus the oldest due moment, so replicas' clocks do not matter.
const queueStatsSQL = `
SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM deliveries WHERE status = 'delivering') AS delivering,
       greatest(floor(extract(epoch FROM ?now - least(
           (SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'),
           (SELECT min(lease_expires_at) FROM deliveries WHERE status = 'delivering'))) * 1000000), 0)::bigint AS oldest_due_us`

// finishedStatsSQL estimates the finished rows as the planner does,
// without reading them: the rows ANALYZE last counted, scaled to the
// table's present size (pg_class, as the planner scales them), times each
// status's share of ANALYZE's sample (pg_stats). Before the first ANALYZE
// there are no statistics and no rows come back: zero.
const finishedStatsSQL = `
SELECT m.status,
       (m.freq * CASE WHEN c.relpages > 0
                      THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int)
                      ELSE greatest(c.reltuples, 0) END)::bigint AS n
FROM pg_class c
JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname AND s.attname = 'status' AND NOT s.inherited
CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS m(status, freq)
WHERE c.oid = to_regclass('deliveries') AND m.status IN ('succeeded', 'dead')`

// QueueStats counts the queue exactly and estimates the finished rows
// (Estimated): counting those exactly would read the whole history.
func (s *Store) QueueStats(ctx context.Context, p ports.QueueStatsParams) (ports.QueueStats, error) {
	var st ports.QueueStats
	var oldestUS int64
	args := struct{ Now dbNow }{dbNow{p.Now}}
	if err := s.db.NewRaw(queueStatsSQL, args).Scan(ctx, &st.Pending, &st.Delivering, &oldestUS); err != nil {
		return ports.QueueStats{}, interpretError("queue stats", err)
	}
	st.OldestDue = time.Duration(oldestUS) * time.Microsecond
	if !p.Finished {
		return st, nil
	}
	var rows []struct {
		Status string
		N      int64
	}
	if err := s.db.NewRaw(finishedStatsSQL).Scan(ctx, &rows); err != nil {
		return ports.QueueStats{}, interpretError("finished stats", err)
	}
	st.Estimated = true
	for _, r := range rows {
		switch core.Status(r.Status) {
		case core.StatusSucceeded:
			st.Succeeded = r.N
		case core.StatusDead:
			st.Dead = r.N
		}
	}
	return st, nil
}
