package sqlite

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.ActivityStore = (*Store)(nil)

// activityChunk bounds the rows of one INSERT: six variables each, well
// under SQLite's limit on a statement's.
const activityChunk = 500

const addActivitySQL = `
INSERT INTO activity (minute, endpoint_id, accepted, delivered, retried, dead)
VALUES %s
ON CONFLICT (endpoint_id, minute) DO UPDATE
SET accepted = activity.accepted + excluded.accepted,
    delivered = activity.delivered + excluded.delivered,
    retried = activity.retried + excluded.retried,
    dead = activity.dead + excluded.dead`

// AddActivity adds counts in one write transaction of the group commit:
// the only writer meanwhile, so concurrent adders follow each other.
func (s *Store) AddActivity(ctx context.Context, counts []ports.ActivityCount) error {
	rows := ports.MergeActivity(counts)
	if len(rows) == 0 {
		return nil
	}
	return s.write(ctx, "add activity", func(ctx context.Context, tx bun.Tx) error {
		for chunk := range slices.Chunk(rows, activityChunk) {
			values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", len(chunk)), ", ")
			args := make([]any, 0, 6*len(chunk))
			for _, r := range chunk {
				args = append(args, r.Minute.UnixMicro(), string(r.EndpointID), r.Accepted, r.Delivered, r.Retried, r.Dead)
			}
			if _, err := tx.ExecContext(ctx, strings.Replace(addActivitySQL, "%s", values, 1), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// activitySQL reads one range of the primary key (endpoint_id, minute) per
// endpoint asked for; the table is WITHOUT ROWID, so the key is the rows.
const activitySQL = `
SELECT minute, endpoint_id, accepted, delivered, retried, dead
FROM activity
WHERE endpoint_id IN (?) AND minute >= ? AND minute < ?
ORDER BY minute, endpoint_id`

type activityRow struct {
	Minute     int64  `bun:"minute"`
	EndpointID string `bun:"endpoint_id"`
	Accepted   int64  `bun:"accepted"`
	Delivered  int64  `bun:"delivered"`
	Retried    int64  `bun:"retried"`
	Dead       int64  `bun:"dead"`
}

func (s *Store) Activity(ctx context.Context, q ports.ActivityQuery) ([]ports.ActivityCount, error) {
	if !q.From.Before(q.To) {
		return nil, nil
	}
	from, to := ports.CeilMinute(q.From).UnixMicro(), ports.CeilMinute(q.To).UnixMicro()
	var rows []activityRow
	err := s.read(ctx, "activity", func(ctx context.Context, tx bun.Tx) error {
		return tx.NewRaw(activitySQL, bun.In(q.EndpointKeys()), from, to).Scan(ctx, &rows)
	})
	if err != nil {
		return nil, err
	}
	out := make([]ports.ActivityCount, len(rows))
	for i, r := range rows {
		out[i] = ports.ActivityCount{Minute: fromMicros(r.Minute), EndpointID: core.EndpointID(r.EndpointID),
			Accepted: r.Accepted, Delivered: r.Delivered, Retried: r.Retried, Dead: r.Dead}
	}
	return out, nil
}

// PurgeActivity deletes through activity_minute_idx, in one write.
func (s *Store) PurgeActivity(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, "purge activity", func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM activity WHERE minute < ?`, ports.CeilMinute(before).UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
