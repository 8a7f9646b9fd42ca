package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

var _ ports.EventStore = (*Store)(nil)

// Store is the PostgreSQL ports.EventStore (and ports.EndpointStore). It
// holds no connection or transaction between calls.
type Store struct {
	db        *bun.DB
	queue     *bun.DB // the hot statements' pool (prepared.go)
	channel   string
	inserts   *batcher[ports.InsertParams, ports.Inserted]
	completes *batcher[ports.CompleteParams, struct{}]
	wake      *notifier // after inserts (notify.go)
	// The hot statements, prepared (prepared.go).
	insertions, claims, completions *preparedQuery
}

// NewStore returns a Store over db, which must have been opened (and
// migrated) with the same cfg, and a func that stops its notifier
// (notify.go) and closes the pool of its own it opens (lazily) for the
// queue's hot statements.
func NewStore(db *bun.DB, cfg Config) (*Store, func(), error) {
	cfg.setDefaults()
	queue, err := queuePool(cfg)
	if err != nil {
		return nil, nil, err
	}
	s := &Store{db: db, queue: queue, channel: cfg.Channel(), insertions: newInsertQuery(), claims: newClaimQuery(),
		completions: newCompleteQuery()}
	s.inserts = &batcher[ports.InsertParams, ports.Inserted]{run: s.insertBatch}
	s.completes = &batcher[ports.CompleteParams, struct{}]{run: s.completeBatch}
	s.wake = newNotifier(func(ctx context.Context) error {
		_, err := queue.ExecContext(ctx, notifySQL, s.channel)
		return err
	})
	ctx, stop := context.WithCancel(context.Background())
	notifying := make(chan struct{})
	go func() {
		defer close(notifying)
		s.wake.run(ctx)
	}()
	return s, func() {
		stop()
		<-notifying
		_ = queue.Close()
	}, nil
}

// Pools are the store's connection pools by name: the main pool, and the
// queue's.
func (s *Store) Pools() map[string]*sql.DB {
	return map[string]*sql.DB{"postgres": s.db.DB, "postgres_queue": s.queue.DB}
}

// Insert stores the event and its deliveries with whatever other inserts
// are queued, in one statement (groupinsert.go).
func (s *Store) Insert(ctx context.Context, p ports.InsertParams) (ports.Inserted, error) {
	return s.inserts.do(ctx, p)
}

func (s *Store) Event(ctx context.Context, id core.EventID) (ports.EventRecord, error) {
	if !validID(id) {
		return ports.EventRecord{}, fmt.Errorf("postgres: event %s: %w", id, core.ErrNotFound)
	}
	return s.eventWhere(ctx, "e.id = ?", string(id))
}

// eventWhere reads the one event matching where, and its deliveries.
func (s *Store) eventWhere(ctx context.Context, where string, arg any) (ports.EventRecord, error) {
	var ev eventRow
	if err := s.db.NewSelect().Model(&ev).Where(where, arg).Scan(ctx); err != nil {
		return ports.EventRecord{}, interpretError("event", err)
	}
	byEvent, err := s.deliveriesOf(ctx, []string{ev.ID})
	if err != nil {
		return ports.EventRecord{}, err
	}
	return record(ev, byEvent[ev.ID])
}

// deliveriesOf reads the deliveries of events, oldest first, by event id,
// in ofEvent's two parts.
func (s *Store) deliveriesOf(ctx context.Context, events []string) (map[string][]deliveryRow, error) {
	var rows []deliveryRow
	own, fanout := ofEvents("d", "IN (?)")
	err := s.db.NewRaw(`SELECT d.* FROM deliveries AS d WHERE `+own+`
UNION ALL
SELECT d.* FROM deliveries AS d WHERE `+fanout+`
ORDER BY event_id, created_at, id`, bun.In(events), bun.In(events)).Scan(ctx, &rows)
	if err != nil {
		return nil, interpretError("deliveries", err)
	}
	out := make(map[string][]deliveryRow, len(events))
	for _, r := range rows {
		out[r.EventID] = append(out[r.EventID], r)
	}
	return out, nil
}

// getSQL reads a delivery with its event's body.
const getSQL = `SELECT d.*, e.body FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?`

func (s *Store) Get(ctx context.Context, id core.DeliveryID) (core.Delivery, error) {
	if !validID(id) {
		return core.Delivery{}, fmt.Errorf("postgres: get %s: %w", id, core.ErrNotFound)
	}
	var row deliveryRow
	if err := s.db.NewRaw(getSQL, string(id)).Scan(ctx, &row); err != nil {
		return core.Delivery{}, interpretError("get "+string(id), err)
	}
	return deliveryToCore(row)
}

func (s *Store) Attempts(ctx context.Context, id core.DeliveryID) ([]core.Attempt, error) {
	if !validID(id) {
		return nil, fmt.Errorf("postgres: attempts %s: %w", id, core.ErrNotFound)
	}
	var rows []attemptRow
	if err := s.db.NewSelect().Model(&rows).Where("delivery_id = ?", string(id)).Order("id").Scan(ctx); err != nil {
		return nil, interpretError("attempts", err)
	}
	if len(rows) == 0 {
		// No history yet, or no such delivery: only the latter is an error.
		exists, err := s.db.NewSelect().Model((*deliveryRow)(nil)).Where("id = ?", string(id)).Exists(ctx)
		if err != nil {
			return nil, interpretError("attempts", err)
		}
		if !exists {
			return nil, fmt.Errorf("postgres: attempts %s: %w", id, core.ErrNotFound)
		}
	}
	out := make([]core.Attempt, len(rows))
	for i, r := range rows {
		out[i] = attemptToCore(r)
	}
	return out, nil
}

// List pages through events, newest first. The delivery filters are one
// semi-join: an event matches when one of its deliveries is in the status
// and to the endpoint asked for. The page's deliveries are read in one more
// query.
// replaySQL resets a finished delivery (mirrors core.Delivery.Replay) and
// notifies the channel, in one statement: the NOTIFY is delivered only if
// the update commits. It returns the delivery with its event's body.
const replaySQL = `
WITH replayed AS (
    UPDATE deliveries
    SET status = 'pending', attempted_count = 0, next_attempt_at = ?now, active_since = ?now,
        last_error = NULL, last_status_code = NULL, updated_at = ?now
    WHERE id = ?id AND status IN ('succeeded', 'dead')
    RETURNING *
)
SELECT replayed.*, e.body
FROM replayed JOIN events e ON e.id = replayed.event_id CROSS JOIN LATERAL pg_notify(?channel, '') AS n`

type replayArgs struct {
	Now     dbNow
	ID      string
	Channel string
}

func (s *Store) Replay(ctx context.Context, p ports.ReplayParams) (core.Delivery, error) {
	if !validID(p.ID) {
		return core.Delivery{}, fmt.Errorf("postgres: replay %s: %w", p.ID, core.ErrNotFound)
	}
	args := &replayArgs{Now: dbNow{p.Now}, ID: string(p.ID), Channel: s.channel}
	for range 2 {
		var rows []deliveryRow
		if err := s.db.NewRaw(replaySQL, args).Scan(ctx, &rows); err != nil {
			return core.Delivery{}, interpretError("replay", err)
		}
		if len(rows) == 1 {
			return deliveryToCore(rows[0])
		}
		// Not replayable: let the domain say why (or ErrNotFound). If it
		// finished in between, the next round replays it.
		cur, err := s.Get(ctx, p.ID)
		if err != nil {
			return core.Delivery{}, err
		}
		if _, err := cur.Replay(cur.UpdatedAt); err != nil {
			return core.Delivery{}, err
		}
	}
	return core.Delivery{}, fmt.Errorf("postgres: replay %s: %w", p.ID, core.ErrConflict)
}

// Ping checks both pools: a queue pool whose sessions the server (or a
// pooler in front of it) refuses could neither store nor deliver.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return interpretError("ping", err)
	}
	return interpretError("ping: queue pool", s.queue.PingContext(ctx))
}

func validID(id core.EventID) bool { return core.IsUUID(string(id)) }
