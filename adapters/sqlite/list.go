package sqlite

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// listRow is an events row as a list reads it: the body only when it is
// small (ports.ListBodyMax), and its size (length() of a blob reads no
// content).
type listRow struct {
	eventRow `bun:",extend"`
	BodySize int `bun:"body_size,scanonly"`
}

const listColumns = `e.id, e.event_type, e.target_url, e.origin, e.endpoint_id, e.idempotency_key, e.created_at,
CASE WHEN length(e.body) <= ?0 THEN e.body END AS body, length(e.body) AS body_size`

// List reads one page, newest first, off events_created_idx (or
// events_type_created_idx), and the total counted up to
// ports.ListTotalCap, in one snapshot.
func (s *Store) List(ctx context.Context, f ports.ListFilter) (ports.ListResult, error) {
	var res ports.ListResult
	err := s.read(ctx, "list", func(ctx context.Context, tx bun.Tx) error {
		var total int
		inner := listWhere(tx, tx.NewSelect().TableExpr("events AS e").ColumnExpr("1"), f).Limit(ports.ListTotalCap + 1)
		if err := tx.NewSelect().TableExpr("(?) AS matched", inner).ColumnExpr("count(*)").Scan(ctx, &total); err != nil {
			return err
		}
		res = ports.ListResult{Total: min(total, ports.ListTotalCap), TotalExact: total <= ports.ListTotalCap}
		if f.Page < 1 || f.Limit < 1 {
			return nil
		}
		var rows []listRow
		q := tx.NewSelect().Model(&rows).ColumnExpr(listColumns, ports.ListBodyMax)
		if f.After != nil {
			q = q.Where("(e.created_at, e.id) < (?, ?)", f.After.CreatedAt.UnixMicro(), string(f.After.ID))
		}
		// One row more than the page says whether a next page exists.
		err := listWhere(tx, q, f).OrderExpr("e.created_at DESC, e.id DESC").
			Limit(int64(f.Limit) + 1).Offset(int64(f.Page-1) * int64(f.Limit)).Scan(ctx)
		if err != nil {
			return err
		}
		if len(rows) > f.Limit {
			rows = rows[:f.Limit]
			last := rows[len(rows)-1]
			res.Next = &ports.ListCursor{CreatedAt: fromMicros(last.CreatedAt), ID: core.EventID(last.ID)}
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		byEvent, err := deliveriesOf(ctx, tx, ids...)
		if err != nil {
			return err
		}
		for _, r := range rows {
			res.Events = append(res.Events, ports.EventRecord{
				Event: eventToCore(r.eventRow), Deliveries: byEvent[r.ID], BodySize: r.BodySize})
		}
		return nil
	})
	if err != nil {
		return ports.ListResult{}, err
	}
	return res, nil
}

// listWhere adds f's filters (not its paging) to a query over events e.
func listWhere(db bun.IDB, q *bun.SelectQuery, f ports.ListFilter) *bun.SelectQuery {
	if f.EventType != "" {
		q = q.Where("e.event_type = ?", f.EventType)
	}
	q = windowWhere(q, "e.created_at", f.Window)
	if f.Status != "" || f.EndpointID != "" || f.Origin != "" {
		sub := deliveryWhere(db.NewSelect().TableExpr("deliveries AS d").Column("d.event_id"),
			f.Status, f.EndpointID, f.Origin)
		q = q.Where("e.id IN (?)", sub)
	}
	return q
}

// deliveryWhere adds the conditions on deliveries d a list or a recovery
// filters by.
func deliveryWhere(q *bun.SelectQuery, status core.Status, endpoint core.EndpointID, origin string) *bun.SelectQuery {
	if status != "" {
		q = q.Where("d.status = ?", string(status))
	}
	if status.Finished() {
		// Redundant, but SQLite can use a partial index only when the
		// query spells out its condition.
		q = q.Where("d.status IN ('succeeded', 'dead')")
	}
	if endpoint != "" {
		q = q.Where("d.endpoint_id = ?", string(endpoint))
	}
	if origin != "" {
		q = q.Where("d.origin = ?", origin)
	}
	return q
}

func windowWhere(q *bun.SelectQuery, column string, w ports.TimeWindow) *bun.SelectQuery {
	if !w.From.IsZero() {
		q = q.Where("? >= ?", bun.Ident(column), w.From.UnixMicro())
	}
	if !w.To.IsZero() {
		q = q.Where("? < ?", bun.Ident(column), w.To.UnixMicro())
	}
	return q
}

// recoverSQL replays (mirrors core.Delivery.Recover) the deliveries
// ?picked, oldest first, each due at its turn in its origin's pace
// (mirrors core.RecoverPace; ?step is in microseconds).
const recoverSQL = `
WITH paced AS (
    SELECT id, row_number() OVER (PARTITION BY origin ORDER BY created_at, id) - 1 AS turn
    FROM (?picked)
)
UPDATE deliveries
SET status = 'pending', attempted_count = 0,
    next_attempt_at = ?now + CAST(p.turn * ?step AS INTEGER),
    active_since = ?now + CAST(p.turn * ?step AS INTEGER),
    last_error = NULL, last_status_code = NULL, updated_at = ?now
FROM paced AS p
WHERE deliveries.id = p.id AND deliveries.status IN ('succeeded', 'dead')`

type recoverArgs struct {
	Picked *bun.SelectQuery
	Now    int64
	Step   float64
}

func (s *Store) Recover(ctx context.Context, p ports.RecoverParams) (ports.RecoverResult, error) {
	now := s.now(p.Now)
	f := p.Filter
	matching := func(tx bun.Tx) *bun.SelectQuery {
		q := deliveryWhere(tx.NewSelect().TableExpr("deliveries AS d").ColumnExpr("d.id, d.origin, d.created_at"),
			f.Status, f.EndpointID, f.Origin)
		return windowWhere(q, "d.created_at", f.Window).OrderExpr("d.created_at, d.id")
	}
	step := 0.0 // microseconds between two deliveries to one origin; 0 does not pace
	if p.RatePerSecond > 0 {
		step = 1e6 / p.RatePerSecond
	}
	var res ports.RecoverResult
	err := s.write(ctx, "recover", func(ctx context.Context, tx bun.Tx) error {
		args := &recoverArgs{Picked: matching(tx).Limit(int64(p.Limit)), Now: now.UnixMicro(), Step: step}
		r, err := tx.NewRaw(recoverSQL, args).Exec(ctx)
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return err
		}
		// The recovered are pending now: whatever still matches is more.
		left, err := matching(tx).Limit(1).Exists(ctx)
		res = ports.RecoverResult{Queued: int(n), More: left}
		return err
	})
	if err != nil {
		return ports.RecoverResult{}, err
	}
	if res.Queued > 0 {
		s.wake.Notify()
	}
	return res, nil
}
