package sqlite

import (
	"context"
	"database/sql"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Stats = (*Store)(nil)

// queueSQL reads only partial indexes of pending and delivering rows: its
// cost is the queue's size, never the history's. The statuses are
// literals, as everywhere here, or SQLite could not match the indexes'
// WHERE clauses.
const queueSQL = `SELECT
	(SELECT count(*) FROM deliveries WHERE status = 'pending'),
	(SELECT count(*) FROM deliveries WHERE status = 'delivering'),
	(SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'),
	(SELECT min(lease_expires_at) FROM deliveries WHERE status = 'delivering')`

// finishedSQL counts through the partial index of finished rows
// (deliveries_finished_created_idx), which covers it: a pass over the
// history's index, not over its rows. SQLite keeps no per-value statistics
// to estimate from.
const finishedSQL = `SELECT status, count(*) FROM deliveries WHERE status IN ('succeeded', 'dead') GROUP BY status`

// QueueStats counts exactly, in one read snapshot.
func (s *Store) QueueStats(ctx context.Context, p ports.QueueStatsParams) (ports.QueueStats, error) {
	now := s.now(p.Now)
	var st ports.QueueStats
	err := s.read(ctx, "queue stats", func(ctx context.Context, tx bun.Tx) error {
		var pendingDue, leaseEnd sql.NullInt64
		if err := tx.QueryRowContext(ctx, queueSQL).Scan(&st.Pending, &st.Delivering, &pendingDue, &leaseEnd); err != nil {
			return err
		}
		for _, due := range []sql.NullInt64{pendingDue, leaseEnd} {
			if age := now.Sub(fromMicros(due.Int64)); due.Valid && age > st.OldestDue {
				st.OldestDue = age
			}
		}
		if !p.Finished {
			return nil
		}
		rows, err := tx.QueryContext(ctx, finishedSQL)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var status string
			var n int64
			if err := rows.Scan(&status, &n); err != nil {
				return err
			}
			switch core.Status(status) {
			case core.StatusSucceeded:
				st.Succeeded = n
			case core.StatusDead:
				st.Dead = n
			}
		}
		return rows.Err()
	})
	if err != nil {
		return ports.QueueStats{}, err
	}
	return st, nil
}
