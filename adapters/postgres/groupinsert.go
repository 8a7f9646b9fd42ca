package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// Inserts are group-committed (batch.go). Idempotency is per row: a key
// already stored (or taken by an earlier row of the same statement) makes
// that call return the stored event. If the statement fails as a whole (a
// duplicate id), each of its events is tried alone, so that one bad row
// never fails its neighbours; a database outage fails the batch at once.

// inserted is an Insert's answer.
type inserted struct {
	ev      core.Event
	created bool
}

type insertCall = call[ports.InsertParams, inserted]

// insertBatchSQL stores a batch in one statement. Rows keep their order
// (ord), so that of two rows with one idempotency key the first wins.
const insertBatchSQL = `
WITH input AS (
    SELECT * FROM unnest(?ids::uuid[], ?targets::text[], ?origins::text[], ?bodies::bytea[], ?keys::text[],
                         ?ats::text[], ?nexts::text[]) WITH ORDINALITY
        AS i (id, target_url, origin, body, idempotency_key, at, next, ord)
), stamped AS (
    SELECT id, target_url, origin, body, NULLIF(idempotency_key, '') AS idempotency_key,
           coalesce(NULLIF(at, '')::timestamptz, now()) AS at, NULLIF(next, '')::timestamptz AS next, ord
    FROM input
)
INSERT INTO events (id, target_url, origin, body, idempotency_key, next_attempt_at, active_since, created_at, updated_at)
SELECT id, target_url, origin, body, idempotency_key, coalesce(next, at), at, at, at
FROM stamped ORDER BY ord
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *`

type insertBatchArgs struct {
	IDs     []string `bun:"ids,array"`
	Targets []string `bun:",array"`
	Origins []string `bun:",array"`
	Bodies  [][]byte `bun:",array"`
	Keys    []string `bun:",array"` // "" for none
	Ats     []string `bun:",array"` // "" for the database's now()
	Nexts   []string `bun:",array"` // "" for at
}

// insertBatch is the inserter's run: one statement for the batch, then
// the stored events of the keys that were already taken.
func (s *Store) insertBatch(ctx context.Context, batch []*insertCall) {
	var a insertBatchArgs
	for _, r := range batch {
		row := fromCore(r.p.Event)
		a.IDs = append(a.IDs, row.ID)
		a.Targets = append(a.Targets, row.TargetURL)
		a.Origins = append(a.Origins, row.Origin)
		a.Bodies = append(a.Bodies, row.Body)
		a.Keys = append(a.Keys, row.IdempotencyKey)
		a.Ats = append(a.Ats, timeText(r.p.Now))
		next := ""
		if !r.p.Event.NextAttemptAt.IsZero() {
			next = r.p.Event.NextAttemptAt.UTC().Format(time.RFC3339Nano)
		}
		a.Nexts = append(a.Nexts, next)
	}
	var rows []eventRow
	if err := s.db.NewRaw(insertBatchSQL, &a).Scan(ctx, &rows); err != nil {
		if err = interpretError("insert", err); len(batch) == 1 || errors.Is(err, core.ErrUnavailable) {
			for _, r := range batch { // the database, not a row, is at fault
				r.err = err
			}
			return
		}
		// Find the row at fault by storing each alone.
		for _, r := range batch {
			r.res.ev, r.res.created, r.err = s.insertOne(ctx, r.p)
		}
		return
	}
	stored := make(map[string]eventRow, len(rows))
	for _, row := range rows {
		stored[row.ID] = row
	}
	for _, r := range batch {
		row, ok := stored[string(r.p.Event.ID)]
		if ok {
			r.res.ev, r.err = toCore(row)
			r.res.created = true
			continue
		}
		// Its key was taken, by an earlier event or an earlier row of this
		// batch: answer with that event (insertOne reads it, and inserts
		// after all if it vanished meanwhile).
		r.res.ev, r.res.created, r.err = s.insertOne(ctx, r.p)
		if r.err == nil && r.res.created && r.p.Event.IdempotencyKey == "" {
			r.err = errors.New("postgres: insert: a row without a key was not stored by its batch")
		}
	}
}

func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
