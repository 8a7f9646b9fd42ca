package postgres

import (
	"context"
	"time"

	"github.com/uptrace/bun/schema"

	"github.com/webhookd/webhookd/ports"
)

var _ ports.Purger = (*Store)(nil)

// purgeOldSQL holds for a delivery o that ports.Purger's rule lets go: it
// finished, before its status's cutoff. A NULL cutoff (retention 0) holds
// for nothing; coalesce turns that NULL into false where it is negated,
// and where it locks (held), keeps the planner from reading the
// finished-updated index's whole old range into a bitmap.
const purgeOldSQL = `((o.status = 'succeeded' AND o.updated_at < ?ok_cut) OR (o.status = 'dead' AND o.updated_at < ?dead_cut))`

// purgeBlockerSQL finds, for a candidate delivery d, a delivery of its
// event that keeps the event (unfinished or too young) or that has a lower
// id: an event is taken through its lowest delivery only, hence once,
// however many of its deliveries the walk meets. It reads the event's
// deliveries in their two parts (eventsql.go), a primary-key probe and a
// descent of deliveries_fanout_event_idx, stopping at the first row; a
// UNION ALL is never made an anti-join, and OFFSET 0 says so again: a
// subplan run per candidate, never a hash over the whole table.
var purgeBlockerSQL = ofEventUnion("d.event_id", "(o.id < d.id OR NOT coalesce("+purgeOldSQL+", false))")

// purgeSQL is one statement, hence one short transaction, deleting up to
// ?limit events that ports.Purger's rule allows:
//
//  1. candidates: finished deliveries old enough for their status, walked
//     oldest first off deliveries_finished_updated_idx (status, updated_at;
//     its range holds no recent row) and kept when their event has no
//     blocker (purgeBlockerSQL); then, when asked for (PurgeParams
//     Unrouted), events routed to nobody created before the succeeded
//     cutoff, off events_created_idx. The branches run in turn and stop at
//     ?limit rows: the last one is read only when the others run short.
//     A blocked candidate (a fan-out event with a young dead delivery) is
//     read again by every call, until it is no longer blocked;
//  2. locked: those events' rows, FOR UPDATE SKIP LOCKED (another
//     dispatcher's purge holds them: skipped, never waited for);
//  3. held_own/held_fanout/held: their deliveries, in ofEvent's two parts
//     (FOR UPDATE takes no UNION), FOR UPDATE SKIP LOCKED, re-checked
//     against the rule as they are locked (a replay committed since the
//     statement began makes one pending, and it is not held), so that none
//     can change before the delete;
//  4. doomed/deleted/dropped/forgotten: the events every delivery of which
//     is held are deleted, and beside them their deliveries (all held:
//     locked by this statement) and those deliveries' attempts, by key. No
//     foreign key cascades (migrations 20261206000000 and 20261207000000):
//     this statement is the one deleter of events.
//
// Every step after the walk reads at most ?limit events' rows by key:
// "= ANY (ARRAY(...))" is an index condition, and OFFSET 0 keeps each
// NOT EXISTS a per-row subplan, so that no estimate can turn one into a
// hash join over a whole table.
//
// It never waits for a lock, so never for a claim. Every row it locks it
// locks with SKIP LOCKED, and it deletes only deliveries it holds. Claims,
// completions, releases, parking and endpoint changes lock and write
// pending and delivering deliveries only, which are never held here: a
// delivery a worker holds is never finished, and an attempt is inserted
// only by the statement that finishes a delivering one, so every attempt
// of a held delivery is committed before the purge could hold it. The one
// writer of finished deliveries is a replay: one under way holds its row,
// which is skipped, and the event kept. A delivery is inserted only with
// its event, never for one that exists. Attempts are never locked by
// anyone. Inserts do wait for it, briefly, when they reuse the idempotency
// key of an event it is deleting.
var purgeSQL = func() string {
	heldOwn, heldFanout := ofEvents("o", "= ANY (ARRAY(SELECT id FROM locked))")
	return `
WITH candidates AS MATERIALIZED (
    (SELECT d.event_id AS id
     FROM deliveries d
     WHERE d.status = 'succeeded' AND d.updated_at < ?ok_cut AND NOT EXISTS (` + purgeBlockerSQL + `)
     ORDER BY d.updated_at
     LIMIT ?limit)
    UNION ALL
    (SELECT d.event_id
     FROM deliveries d
     WHERE d.status = 'dead' AND d.updated_at < ?dead_cut AND NOT EXISTS (` + purgeBlockerSQL + `)
     ORDER BY d.updated_at
     LIMIT ?limit)
    UNION ALL
    (SELECT e.id
     FROM events e
     WHERE e.created_at < ?unrouted_cut AND NOT EXISTS (` + ofEventUnion("e.id", "true") + `)
     ORDER BY e.created_at, e.id
     LIMIT ?limit)
    LIMIT ?limit
), locked AS MATERIALIZED (
    SELECT id
    FROM events
    WHERE id = ANY (ARRAY(SELECT id FROM candidates))
    FOR UPDATE SKIP LOCKED
), held_own AS MATERIALIZED (
    SELECT o.id, o.event_id
    FROM deliveries o
    WHERE ` + heldOwn + ` AND coalesce(` + purgeOldSQL + `, false)
    FOR UPDATE SKIP LOCKED
), held_fanout AS MATERIALIZED (
    SELECT o.id, o.event_id
    FROM deliveries o
    WHERE ` + heldFanout + ` AND coalesce(` + purgeOldSQL + `, false)
    FOR UPDATE SKIP LOCKED
), held AS MATERIALIZED (
    SELECT id, event_id FROM held_own
    UNION ALL
    SELECT id, event_id FROM held_fanout
), doomed AS MATERIALIZED (
    SELECT l.id
    FROM locked l
    WHERE NOT EXISTS (` + ofEventUnion("l.id", "NOT EXISTS (SELECT 1 FROM held h WHERE h.id = o.id)") + `)
), deleted AS (
    DELETE FROM events
    WHERE id = ANY (ARRAY(SELECT id FROM doomed))
    RETURNING id
), gone AS MATERIALIZED (
    SELECT id FROM held WHERE event_id IN (SELECT id FROM deleted)
), dropped AS (
    DELETE FROM deliveries
    WHERE id = ANY (ARRAY(SELECT id FROM gone))
), forgotten AS (
    DELETE FROM delivery_attempts
    WHERE delivery_id = ANY (ARRAY(SELECT id FROM gone))
)
SELECT (SELECT count(*) FROM deleted) AS events,
       (SELECT count(*) FROM gone) AS deliveries`
}()

type purgeArgs struct {
	OkCut       cutoff
	DeadCut     cutoff
	UnroutedCut cutoff // OkCut, or NULL when the call does not look for them
	Limit       int
}

// Purge deletes up to p.Limit events that ports.Purger's rule allows, with
// their deliveries and attempts, in one statement (purgeSQL).
func (s *Store) Purge(ctx context.Context, p ports.PurgeParams) (ports.PurgeResult, error) {
	if p.Limit < 1 || p.Succeeded <= 0 && p.Dead <= 0 {
		return ports.PurgeResult{}, nil
	}
	now := dbNow{p.Now}
	args := &purgeArgs{OkCut: cutoff{now, p.Succeeded}, DeadCut: cutoff{now, p.Dead}, Limit: p.Limit}
	if p.Unrouted {
		args.UnroutedCut = args.OkCut
	}
	var res ports.PurgeResult
	if err := s.db.NewRaw(purgeSQL, args).Scan(ctx, &res.Events, &res.Deliveries); err != nil {
		return ports.PurgeResult{}, interpretError("purge", err)
	}
	return res, nil
}

// cutoff renders now minus a retention, or NULL (nothing is older) when
// the retention keeps everything: the planner then drops the branch whole.
type cutoff struct {
	now  dbNow
	keep time.Duration
}

var _ schema.QueryAppender = cutoff{}

func (c cutoff) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	if c.keep <= 0 {
		return append(b, "NULL::timestamptz"...), nil
	}
	b = append(b, '(')
	b, err := c.now.AppendQuery(gen, b)
	if err != nil {
		return nil, err
	}
	b = append(b, " - "...)
	if b, err = interval(c.keep).AppendQuery(gen, b); err != nil {
		return nil, err
	}
	return append(b, ')'), nil
}
