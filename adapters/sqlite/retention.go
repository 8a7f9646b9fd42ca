package sqlite

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.Purger = (*Store)(nil)

// purgeFinishedSQL finds events to purge from one final status: its
// deliveries finished before that status's cutoff, oldest first, off the
// finished-updated partial index (whose condition is spelled out, or SQLite
// would not use it), keeping those whose event has no other delivery that
// is unfinished or too young (a retention of 0 is a NULL cutoff: nothing is
// old enough). An event with several deliveries is taken through its
// lowest id only ("o.id < d.id" below), so that it is found once.
const purgeFinishedSQL = `
SELECT d.event_id FROM deliveries AS d
WHERE d.status = ? AND d.status IN ('succeeded', 'dead') AND d.updated_at < ?
  AND NOT EXISTS (
      SELECT 1 FROM deliveries AS o
      WHERE o.event_id = d.event_id
        AND (o.id < d.id
             OR NOT coalesce((o.status = 'succeeded' AND o.updated_at < ?) OR (o.status = 'dead' AND o.updated_at < ?), 0)))
ORDER BY d.updated_at
LIMIT ?`

// purgeUnroutedSQL finds events routed to nobody created before the
// succeeded cutoff, oldest first, off events_created_idx. It reads every
// event older than the cutoff still kept: hence PurgeParams.Unrouted.
const purgeUnroutedSQL = `
SELECT e.id FROM events AS e
WHERE e.created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries AS o WHERE o.event_id = e.id)
ORDER BY e.created_at, e.id
LIMIT ?`

// Purge deletes up to p.Limit events that ports.Purger's rule allows,
// in one write of the group commit: it is the only writer meanwhile, so
// what it reads cannot change before it deletes. Limit bounds the
// transaction, which claims committed in the same group wait for: keep it
// small. The foreign keys cascade from events to deliveries to attempts;
// the idempotency key goes with its events row.
func (s *Store) Purge(ctx context.Context, p ports.PurgeParams) (ports.PurgeResult, error) {
	if p.Limit < 1 || p.Succeeded <= 0 && p.Dead <= 0 {
		return ports.PurgeResult{}, nil
	}
	now := s.now(p.Now)
	okCut, deadCut := cutoff(now, p.Succeeded), cutoff(now, p.Dead)
	var res ports.PurgeResult
	err := s.write(ctx, "purge", func(ctx context.Context, tx bun.Tx) error {
		res = ports.PurgeResult{}
		var ids []string
		find := func(query string, args ...any) error {
			var found []string
			if err := tx.NewRaw(query, append(args, p.Limit-len(ids))...).Scan(ctx, &found); err != nil {
				return err
			}
			ids = append(ids, found...)
			return nil
		}
		for _, st := range []struct {
			status core.Status
			cut    *int64
		}{{core.StatusSucceeded, okCut}, {core.StatusDead, deadCut}} {
			if st.cut == nil || len(ids) >= p.Limit {
				continue
			}
			if err := find(purgeFinishedSQL, string(st.status), *st.cut, okCut, deadCut); err != nil {
				return err
			}
		}
		if p.Unrouted && okCut != nil && len(ids) < p.Limit {
			if err := find(purgeUnroutedSQL, *okCut); err != nil {
				return err
			}
		}
		if len(ids) == 0 {
			return nil
		}
		n, err := tx.NewSelect().Table("deliveries").Where("event_id IN (?)", bun.List(ids)).Count(ctx)
		if err != nil {
			return err
		}
		r, err := tx.NewDelete().Model((*eventRow)(nil)).Where("id IN (?)", bun.List(ids)).Exec(ctx)
		if err != nil {
			return err
		}
		events, err := r.RowsAffected()
		res = ports.PurgeResult{Events: int(events), Deliveries: int(n)}
		return err
	})
	if err != nil {
		return ports.PurgeResult{}, err
	}
	return res, nil
}

// cutoff is now minus retention in the schema's microseconds, nil (SQL
// NULL: nothing is older) when the retention keeps everything.
func cutoff(now time.Time, retention time.Duration) *int64 {
	if retention <= 0 {
		return nil
	}
	c := now.Add(-retention).UnixMicro()
	return &c
}
