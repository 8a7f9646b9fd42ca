package postgres

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// listRow is an events row as a list reads it: the body only when it is
// small (ports.ListBodyMax), and its size. octet_length reads a TOASTed
// body's size from its pointer, so a large body is never fetched.
type listRow struct {
	eventRow `bun:",extend"`
	BodySize int `bun:"body_size,scanonly"`
}

// listColumns are listRow's columns; ?0 is ports.ListBodyMax.
const listColumns = `e.id, e.event_type, e.target_url, e.origin, e.endpoint_id, e.idempotency_key, e.created_at,
CASE WHEN octet_length(e.body) <= ?0 THEN e.body END AS body, octet_length(e.body) AS body_size`

// List reads one page, newest first, off events_created_idx (or
// events_type_created_idx): a page costs the same at any depth when paged
// by cursor. The total is counted up to ports.ListTotalCap.
func (s *Store) List(ctx context.Context, f ports.ListFilter) (ports.ListResult, error) {
	if f.EndpointID != "" && !validEndpointID(f.EndpointID) {
		return ports.ListResult{TotalExact: true}, nil // no delivery goes to a malformed id
	}
	total, err := s.countUpTo(ctx, f, ports.ListTotalCap)
	if err != nil {
		return ports.ListResult{}, err
	}
	res := ports.ListResult{Total: min(total, ports.ListTotalCap), TotalExact: total <= ports.ListTotalCap}
	if f.Page < 1 || f.Limit < 1 {
		return res, nil
	}
	var rows []listRow
	q := s.db.NewSelect().Model(&rows).ColumnExpr(listColumns, ports.ListBodyMax)
	if f.After != nil {
		q = q.Where("(e.created_at, e.id) < (?, ?::uuid)", f.After.CreatedAt, string(f.After.ID))
	}
	// One row more than the page says whether a next page exists.
	err = listWhere(s.db, q, f).OrderExpr("e.created_at DESC, e.id DESC").
		Limit(int64(f.Limit) + 1).Offset(int64(f.Page-1) * int64(f.Limit)).Scan(ctx)
	if err != nil {
		return ports.ListResult{}, interpretError("list", err)
	}
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		res.Next = &ports.ListCursor{CreatedAt: last.CreatedAt, ID: core.EventID(last.ID)}
	}
	if len(rows) == 0 {
		return res, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	byEvent, err := s.deliveriesOf(ctx, ids)
	if err != nil {
		return ports.ListResult{}, err
	}
	for _, r := range rows {
		rec, err := record(r.eventRow, byEvent[r.ID])
		if err != nil {
			return ports.ListResult{}, err
		}
		rec.BodySize = r.BodySize
		res.Events = append(res.Events, rec)
	}
	return res, nil
}

// countUpTo counts the events f matches, stopping at limit+1.
func (s *Store) countUpTo(ctx context.Context, f ports.ListFilter, limit int) (int, error) {
	inner := listWhere(s.db, s.db.NewSelect().TableExpr("events AS e").ColumnExpr("1"), f).Limit(int64(limit) + 1)
	var n int
	err := s.db.NewSelect().TableExpr("(?) AS matched", inner).ColumnExpr("count(*)").Scan(ctx, &n)
	return n, interpretError("list: count", err)
}

// listWhere adds f's filters (not its paging) to a query over events e.
func listWhere(db bun.IDB, q *bun.SelectQuery, f ports.ListFilter) *bun.SelectQuery {
	if f.EventType != "" {
		q = q.Where("e.event_type = ?", f.EventType)
	}
	q = windowWhere(q, "e.created_at", f.Window)
	if f.Status != "" || f.EndpointID != "" || f.Origin != "" {
		q = q.Where("EXISTS (?)", deliveriesOfEvent(db, "1", f.Status, f.EndpointID, f.Origin))
	}
	return q
}

// deliveryWhere adds the conditions on deliveries d a list or a recovery
// filters by.
func deliveryWhere(q *bun.SelectQuery, status core.Status, endpoint core.EndpointID, origin string) *bun.SelectQuery {
	if status != "" {
		q = q.Where("d.status = ?", string(status))
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
		q = q.Where("? >= ?", bun.Ident(column), w.From)
	}
	if !w.To.IsZero() {
		q = q.Where("? < ?", bun.Ident(column), w.To)
	}
	return q
}

// recoverSQL replays (mirrors core.Delivery.Recover) the matching
// deliveries, ?picked, oldest first, each due at its turn in its origin's
// pace (mirrors core.RecoverPace), and notifies the channel, in one
// statement. It locks one delivery more than it recovers, to say whether
// more matched.
const recoverSQL = `
WITH locked AS (
    ?picked
), paced AS (
    SELECT id, row_number() OVER (ORDER BY created_at, id) AS pos,
           row_number() OVER (PARTITION BY origin ORDER BY created_at, id) - 1 AS turn
    FROM locked
), recovered AS (
    UPDATE deliveries d
    SET status = 'pending', attempted_count = 0,
        next_attempt_at = ?now + make_interval(secs => p.turn * ?step::float8),
        active_since = ?now + make_interval(secs => p.turn * ?step::float8),
        last_error = NULL, last_status_code = NULL, updated_at = ?now
    FROM paced p
    WHERE d.id = p.id AND p.pos <= ?limit AND d.status IN ('succeeded', 'dead')
    RETURNING 1
), counted AS (
    SELECT count(*) AS queued, (SELECT count(*) > ?limit FROM paced) AS more FROM recovered
)
SELECT counted.queued, counted.more FROM counted
LEFT JOIN LATERAL (SELECT pg_notify(?channel, '') WHERE counted.queued > 0) AS n ON true`

type recoverArgs struct {
	Picked  *bun.SelectQuery
	Now     dbNow
	Step    float64
	Limit   int
	Channel string
}

func (s *Store) Recover(ctx context.Context, p ports.RecoverParams) (ports.RecoverResult, error) {
	f := p.Filter
	if f.EndpointID != "" && !validEndpointID(f.EndpointID) {
		return ports.RecoverResult{}, nil
	}
	step := 0.0 // seconds between two deliveries to one origin; 0 does not pace
	if p.RatePerSecond > 0 {
		step = 1 / p.RatePerSecond
	}
	picked := s.toRecover(f, p.Limit+1)
	var res struct {
		Queued int  `bun:"queued"`
		More   bool `bun:"more"`
	}
	args := &recoverArgs{Picked: picked, Now: dbNow{p.Now}, Step: step, Limit: p.Limit, Channel: s.channel}
	if err := s.db.NewRaw(recoverSQL, args).Scan(ctx, &res); err != nil {
		return ports.RecoverResult{}, interpretError("recover", err)
	}
	return ports.RecoverResult{Queued: res.Queued, More: res.More}, nil
}

// toRecover picks, oldest first, up to limit finished deliveries f
// matches, locked. Dead ones are few: they are walked off
// deliveries_dead_created_idx. Succeeded ones are most of the history and
// have no index by creation (migration 20261207100000): their events are
// walked instead, off events_created_idx (a delivery is created with its
// event), each event's deliveries read in ofEvent's two parts; the rows
// found are then locked (FOR UPDATE takes no UNION) and checked again.
func (s *Store) toRecover(f ports.RecoverFilter, limit int) *bun.SelectQuery {
	if f.Status == core.StatusDead {
		q := deliveryWhere(s.db.NewSelect().TableExpr("deliveries AS d").
			ColumnExpr("d.id, d.origin, d.created_at"), f.Status, f.EndpointID, f.Origin)
		return windowWhere(q, "d.created_at", f.Window).
			OrderExpr("d.created_at, d.id").Limit(int64(limit)).For("UPDATE OF d")
	}
	walk := windowWhere(s.db.NewSelect().TableExpr("events AS e").ColumnExpr("m.id").
		Join("CROSS JOIN LATERAL (?) AS m", deliveriesOfEvent(s.db, "d.id", f.Status, f.EndpointID, f.Origin)),
		"e.created_at", f.Window).
		OrderExpr("e.created_at, e.id").Limit(int64(limit))
	return s.db.NewSelect().TableExpr("deliveries AS d").ColumnExpr("d.id, d.origin, d.created_at").
		Where("d.id = ANY (ARRAY(?))", walk).Where("d.status = ?", string(f.Status)).
		OrderExpr("d.created_at, d.id").For("UPDATE OF d")
}
