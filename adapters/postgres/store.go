package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.EventStore = (*Store)(nil)

// Store is the PostgreSQL ports.EventStore. It holds no connection or
// transaction between calls.
type Store struct {
	db        *bun.DB
	channel   string
	inserts   *batcher[ports.InsertParams, inserted]
	completes *batcher[ports.CompleteParams, struct{}]
}

// NewStore returns a Store over db, which must have been opened (and
// migrated) with the same cfg.
func NewStore(db *bun.DB, cfg Config) *Store {
	s := &Store{db: db, channel: cfg.Channel()}
	s.inserts = &batcher[ports.InsertParams, inserted]{run: s.insertBatch}
	s.completes = &batcher[ports.CompleteParams, struct{}]{run: s.completeBatch}
	return s
}

// Insert stores the event with whatever other inserts are queued, in one
// statement (groupinsert.go).
func (s *Store) Insert(ctx context.Context, p ports.InsertParams) (core.Event, bool, error) {
	r, err := s.inserts.do(ctx, p)
	return r.ev, r.created, err
}

// insertOne stores one event in its own statement.
func (s *Store) insertOne(ctx context.Context, p ports.InsertParams) (core.Event, bool, error) {
	row := fromCore(p.Event)
	row.Status = string(core.StatusPending)
	row.AttemptedCount = 0
	row.LastAttemptedAt, row.LockedBy, row.LeaseExpiresAt = nil, "", nil
	row.LastStatusCode, row.LastError = 0, ""
	now := dbNow{p.Now}
	var next any = now
	if !p.Event.NextAttemptAt.IsZero() {
		next = p.Event.NextAttemptAt.UTC()
	}
	// The conflicting row could be gone (deleted by hand) between the
	// INSERT and the read of it; then the INSERT succeeds on the next round.
	for range 3 {
		var inserted []eventRow
		err := s.db.NewInsert().Model(&row).
			Value("created_at", "?", now).
			Value("updated_at", "?", now).
			Value("next_attempt_at", "?", next).
			Value("active_since", "?", now).
			On("CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING").
			Returning("*").
			Scan(ctx, &inserted)
		if err != nil {
			return core.Event{}, false, interpretError("insert", err)
		}
		if len(inserted) == 1 {
			e, err := toCore(inserted[0])
			return e, true, err
		}
		var first eventRow
		err = s.db.NewSelect().Model(&first).Where("idempotency_key = ?", row.IdempotencyKey).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return core.Event{}, false, interpretError("insert: read existing", err)
		}
		e, err := toCore(first)
		return e, false, err
	}
	return core.Event{}, false, fmt.Errorf("postgres: insert: idempotency key %q: %w", row.IdempotencyKey, core.ErrConflict)
}

func (s *Store) Get(ctx context.Context, id core.EventID) (core.Event, error) {
	if !validID(id) {
		return core.Event{}, fmt.Errorf("postgres: get %s: %w", id, core.ErrNotFound)
	}
	var row eventRow
	if err := s.db.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx); err != nil {
		return core.Event{}, interpretError("get "+string(id), err)
	}
	return toCore(row)
}

func (s *Store) Attempts(ctx context.Context, id core.EventID) ([]core.Attempt, error) {
	if !validID(id) {
		return nil, fmt.Errorf("postgres: attempts %s: %w", id, core.ErrNotFound)
	}
	var rows []attemptRow
	if err := s.db.NewSelect().Model(&rows).Where("event_id = ?", string(id)).Order("id").Scan(ctx); err != nil {
		return nil, interpretError("attempts", err)
	}
	if len(rows) == 0 {
		// No history yet, or no such event: only the latter is an error.
		if _, err := s.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	out := make([]core.Attempt, len(rows))
	for i, r := range rows {
		out[i] = attemptToCore(r)
	}
	return out, nil
}

func (s *Store) List(ctx context.Context, f ports.ListFilter) (ports.ListResult, error) {
	var rows []eventRow
	q := s.db.NewSelect().Model(&rows)
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Page < 1 || f.Limit < 1 {
		// Nothing to show, but the total is still asked for (and bun
		// would read Limit(0) as "no limit").
		n, err := q.Count(ctx)
		return ports.ListResult{Total: int(n)}, interpretError("list: count", err)
	}
	total, err := q.OrderExpr("created_at DESC, id DESC").
		Limit(int64(f.Limit)).Offset(int64(f.Page-1) * int64(f.Limit)).
		ScanAndCount(ctx)
	if err != nil {
		return ports.ListResult{}, interpretError("list", err)
	}
	evs, err := rowsToCore(rows)
	if err != nil {
		return ports.ListResult{}, err
	}
	if len(evs) == 0 {
		evs = nil
	}
	return ports.ListResult{Events: evs, Total: int(total)}, nil
}

// replaySQL resets a finished event (mirrors core.Event.Replay) and
// notifies the channel, in one statement: the NOTIFY is delivered only if
// the update commits.
const replaySQL = `
WITH replayed AS (
    UPDATE events
    SET status = 'pending', attempted_count = 0, next_attempt_at = ?now, active_since = ?now,
        last_error = NULL, last_status_code = NULL, updated_at = ?now
    WHERE id = ?id AND status IN ('succeeded', 'dead')
    RETURNING *
)
SELECT replayed.* FROM replayed CROSS JOIN LATERAL pg_notify(?channel, '') AS n`

type replayArgs struct {
	Now     dbNow
	ID      string
	Channel string
}

func (s *Store) Replay(ctx context.Context, p ports.ReplayParams) (core.Event, error) {
	if !validID(p.ID) {
		return core.Event{}, fmt.Errorf("postgres: replay %s: %w", p.ID, core.ErrNotFound)
	}
	args := &replayArgs{Now: dbNow{p.Now}, ID: string(p.ID), Channel: s.channel}
	for range 2 {
		var rows []eventRow
		if err := s.db.NewRaw(replaySQL, args).Scan(ctx, &rows); err != nil {
			return core.Event{}, interpretError("replay", err)
		}
		if len(rows) == 1 {
			return toCore(rows[0])
		}
		// Not replayable: let the domain say why (or ErrNotFound). If it
		// finished in between, the next round replays it.
		cur, err := s.Get(ctx, p.ID)
		if err != nil {
			return core.Event{}, err
		}
		if _, err := cur.Replay(cur.UpdatedAt); err != nil {
			return core.Event{}, err
		}
	}
	return core.Event{}, fmt.Errorf("postgres: replay %s: %w", p.ID, core.ErrConflict)
}

func (s *Store) Ping(ctx context.Context) error {
	return interpretError("ping", s.db.PingContext(ctx))
}

func validID(id core.EventID) bool {
	_, err := core.ParseEventID(string(id))
	return err == nil
}
