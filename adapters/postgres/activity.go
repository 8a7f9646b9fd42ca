package postgres

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.ActivityStore = (*Store)(nil)

// addActivitySQL adds a batch of counts in one statement, hence one
// transaction. The rows come sorted by key (ports.MergeActivity) and are
// inserted in that order (ORDER BY ord): every dispatcher adding at once
// locks the rows it shares with another in the same order, so that one
// waits for the other's commit and neither deadlocks. A batch holds each
// key once: ON CONFLICT cannot update a row twice in one statement.
const addActivitySQL = `
INSERT INTO activity AS a (minute, endpoint_id, accepted, delivered, retried, dead)
SELECT i.minute, i.endpoint_id, i.accepted, i.delivered, i.retried, i.dead
FROM unnest(?minutes::timestamptz[], ?endpoints::text[], ?accepted::bigint[], ?delivered::bigint[],
            ?retried::bigint[], ?dead::bigint[]) WITH ORDINALITY
    AS i (minute, endpoint_id, accepted, delivered, retried, dead, ord)
ORDER BY i.ord
ON CONFLICT (endpoint_id, minute) DO UPDATE
SET accepted = a.accepted + EXCLUDED.accepted,
    delivered = a.delivered + EXCLUDED.delivered,
    retried = a.retried + EXCLUDED.retried,
    dead = a.dead + EXCLUDED.dead`

type addActivityArgs struct {
	Minutes   []string `bun:",array"`
	Endpoints []string `bun:",array"`
	Accepted  []int64  `bun:",array"`
	Delivered []int64  `bun:",array"`
	Retried   []int64  `bun:",array"`
	Dead      []int64  `bun:",array"`
}

// AddActivity adds counts in one statement (addActivitySQL).
func (s *Store) AddActivity(ctx context.Context, counts []ports.ActivityCount) error {
	rows := ports.MergeActivity(counts)
	if len(rows) == 0 {
		return nil
	}
	var a addActivityArgs
	for _, r := range rows {
		a.Minutes = append(a.Minutes, timeText(&r.Minute))
		a.Endpoints = append(a.Endpoints, string(r.EndpointID))
		a.Accepted = append(a.Accepted, r.Accepted)
		a.Delivered = append(a.Delivered, r.Delivered)
		a.Retried = append(a.Retried, r.Retried)
		a.Dead = append(a.Dead, r.Dead)
	}
	if _, err := s.db.NewRaw(addActivitySQL, &a).Exec(ctx); err != nil {
		return interpretError("add activity", err)
	}
	return nil
}

// activitySQL reads one range of the primary key (endpoint_id, minute) per
// endpoint asked for. The order is by bytes (COLLATE "C"), as in the
// other stores, whatever the database's collation.
const activitySQL = `
SELECT minute, endpoint_id, accepted, delivered, retried, dead
FROM activity
WHERE endpoint_id IN (?) AND minute >= ? AND minute < ?
ORDER BY minute, endpoint_id COLLATE "C"`

type activityRow struct {
	Minute     time.Time `bun:"minute"`
	EndpointID string    `bun:"endpoint_id"`
	Accepted   int64     `bun:"accepted"`
	Delivered  int64     `bun:"delivered"`
	Retried    int64     `bun:"retried"`
	Dead       int64     `bun:"dead"`
}

func (s *Store) Activity(ctx context.Context, q ports.ActivityQuery) ([]ports.ActivityCount, error) {
	if !q.From.Before(q.To) {
		return nil, nil
	}
	var rows []activityRow
	err := s.db.NewRaw(activitySQL, bun.In(q.EndpointKeys()), ports.CeilMinute(q.From), ports.CeilMinute(q.To)).Scan(ctx, &rows)
	if err != nil {
		return nil, interpretError("activity", err)
	}
	out := make([]ports.ActivityCount, len(rows))
	for i, r := range rows {
		out[i] = ports.ActivityCount{Minute: r.Minute.UTC(), EndpointID: core.EndpointID(r.EndpointID),
			Accepted: r.Accepted, Delivered: r.Delivered, Retried: r.Retried, Dead: r.Dead}
	}
	return out, nil
}

// PurgeActivity deletes through activity_minute_idx: a day's rows are
// kept, a minute's (or, after a pause, a few) go.
func (s *Store) PurgeActivity(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.NewRaw(`DELETE FROM activity WHERE minute < ?`, ports.CeilMinute(before)).Exec(ctx)
	if err != nil {
		return 0, interpretError("purge activity", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, interpretError("purge activity", err)
	}
	return int(n), nil
}
