package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/internal/wait"
	"github.com/webhookd/webhookd/ports"
)

var (
	_ ports.EventStore = (*Store)(nil)
	_ ports.Wakeup     = (*Store)(nil)
)

// maxAbandonPerClaim bounds the dead-lettering done by one Claim, keeping
// its transaction short after a mass crash; the next claims do the rest.
const maxAbandonPerClaim = 1000

// Store is the SQLite ports.EventStore. It is its own Wakeup: inserts,
// replays and releases due at once signal C(), in this process (the only
// one on the file).
type Store struct {
	db    *DB
	clock ports.Clock
	wake  *wait.Signal
}

// NewStore returns a Store over db, which must have been migrated. "Now"
// comes from clock unless a call passes its own.
func NewStore(db *DB, clock ports.Clock) *Store {
	return &Store{db: db, clock: clock, wake: wait.NewSignal()}
}

// C implements ports.Wakeup.
func (s *Store) C() <-chan struct{} { return s.wake.C() }

// now is the call's instant at the store's resolution (microseconds), so
// that what a call returns equals what it stored.
func (s *Store) now(p *time.Time) time.Time {
	t := s.clock.Now()
	if p != nil {
		t = *p
	}
	return fromMicros(t.UnixMicro())
}

// write runs fn in an IMMEDIATE transaction on the writing connection,
// committed with whatever other writes are queued (groupcommit.go):
// nothing else writes meanwhile, which is what makes every read-then-write
// below exclusive. fn must use the ctx it is given.
func (s *Store) write(ctx context.Context, op string, fn func(ctx context.Context, tx bun.Tx) error) error {
	err := s.db.commits.write(ctx, fn)
	if err == nil {
		return nil
	}
	if !fromDatabase(err) {
		return err // fn's own answer (the domain's, or a change refused), already worded
	}
	return interpretError(op, err)
}

func (s *Store) Insert(ctx context.Context, p ports.InsertParams) (core.Event, bool, error) {
	now := s.now(p.Now)
	e := p.Event
	e.Status = core.StatusPending
	e.AttemptedCount, e.ClaimSeq = 0, 0
	e.LastAttemptedAt, e.LockedBy, e.LeaseExpiresAt = nil, "", nil
	e.LastStatusCode, e.LastError = 0, ""
	e.CreatedAt, e.UpdatedAt, e.ActiveSince = now, now, now
	if e.NextAttemptAt.IsZero() {
		e.NextAttemptAt = now
	}
	row := fromCore(e)
	created := true
	err := s.write(ctx, "insert", func(ctx context.Context, tx bun.Tx) error {
		if row.IdempotencyKey != "" {
			var first eventRow
			err := tx.NewSelect().Model(&first).Where("idempotency_key = ?", row.IdempotencyKey).Scan(ctx)
			if err == nil {
				row, created = first, false
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		_, err := tx.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	if err != nil {
		return core.Event{}, false, err
	}
	if created {
		s.wake.Notify()
	}
	stored, err := toCore(row)
	return stored, created, err
}

func (s *Store) Get(ctx context.Context, id core.EventID) (core.Event, error) {
	var row eventRow
	if err := s.db.Read.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx); err != nil {
		return core.Event{}, interpretError("get "+string(id), err)
	}
	return toCore(row)
}

func (s *Store) Attempts(ctx context.Context, id core.EventID) ([]core.Attempt, error) {
	var rows []attemptRow
	if err := s.db.Read.NewSelect().Model(&rows).Where("event_id = ?", string(id)).Order("id").Scan(ctx); err != nil {
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
	q := s.db.Read.NewSelect().Model(&rows)
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
	if err != nil || len(evs) == 0 {
		return ports.ListResult{Total: int(total)}, err
	}
	return ports.ListResult{Events: evs, Total: int(total)}, nil
}

// Claim, in one write transaction: declares dead the delivering events
// whose lease expired during their final attempt (core.Event.Abandon),
// then leases the oldest due of the pending events and the expired leases
// (core.Event.Claim), each kind read in due order off its partial index.
func (s *Store) Claim(ctx context.Context, p ports.ClaimParams) ([]core.Event, error) {
	now := s.now(p.Now)
	var claimed []core.Event
	err := s.write(ctx, "claim", func(ctx context.Context, tx bun.Tx) error {
		expired := func(q *bun.SelectQuery) *bun.SelectQuery {
			q = q.Where("status = 'delivering'").Where("lease_expires_at <= ?", now.UnixMicro())
			if len(p.ExcludeOrigins) > 0 {
				q = q.Where("origin NOT IN (?)", bun.In(p.ExcludeOrigins))
			}
			return q.OrderExpr("lease_expires_at, id")
		}
		lost, err := selectEvents(ctx, expired(tx.NewSelect()).Where("attempted_count >= ?", p.MaxAttempts).Limit(maxAbandonPerClaim))
		if err != nil {
			return err
		}
		for _, e := range lost {
			dead, record, err := e.Abandon(now)
			if err != nil {
				return err
			}
			if err := save(ctx, tx, dead); err != nil {
				return err
			}
			if err := insertAttempt(ctx, tx, record, now); err != nil {
				return err
			}
		}
		if p.Limit <= 0 {
			return nil
		}
		leases, err := selectEvents(ctx, expired(tx.NewSelect()).Where("attempted_count < ?", p.MaxAttempts).Limit(int64(p.Limit)))
		if err != nil {
			return err
		}
		pq := tx.NewSelect().Where("status = 'pending'").Where("next_attempt_at <= ?", now.UnixMicro())
		if len(p.ExcludeOrigins) > 0 {
			pq = pq.Where("origin NOT IN (?)", bun.In(p.ExcludeOrigins))
		}
		pending, err := selectEvents(ctx, pq.OrderExpr("next_attempt_at, id").Limit(int64(p.Limit)))
		if err != nil {
			return err
		}
		due := append(leases, pending...)
		slices.SortFunc(due, func(a, b core.Event) int {
			return cmp.Or(dueAt(a).Compare(dueAt(b)), strings.Compare(string(a.ID), string(b.ID)))
		})
		due = core.FirstPerOrigin(due, p.MaxPerOrigin, func(e core.Event) string { return e.Origin })
		for _, e := range due[:min(len(due), p.Limit)] {
			c, err := e.Claim(p.Worker, now, p.Lease)
			if err != nil {
				return err
			}
			if err := save(ctx, tx, c); err != nil {
				return err
			}
			claimed = append(claimed, normalized(c))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// dueAt is when a claimable event became due: a pending one at
// NextAttemptAt, an expired lease at LeaseExpiresAt.
func dueAt(e core.Event) time.Time {
	if e.Status == core.StatusDelivering && e.LeaseExpiresAt != nil {
		return *e.LeaseExpiresAt
	}
	return e.NextAttemptAt
}

// Complete records the decision (core.Event.Complete) and the attempt
// together. Only the claim that owns the event may: anyone else gets
// core.ErrLeaseLost and nothing is written.
func (s *Store) Complete(ctx context.Context, p ports.CompleteParams) error {
	now := s.now(p.Now)
	return s.write(ctx, "complete", func(ctx context.Context, tx bun.Tx) error {
		e, err := selectEvent(ctx, tx, p.Claim.ID)
		if err != nil {
			return err
		}
		done, err := e.Complete(p.Worker, p.Claim.Seq, p.Decision, now)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		rec := p.Record
		rec.EventID, rec.Number, rec.Worker = e.ID, p.Claim.Attempt, p.Worker
		rec.Verdict, rec.Reason, rec.NextAttemptAt = p.Decision.Verdict, p.Decision.Reason, nil
		if done.Status == core.StatusPending {
			rec.NextAttemptAt = &done.NextAttemptAt
		}
		if err := save(ctx, tx, done); err != nil {
			return err
		}
		return insertAttempt(ctx, tx, rec, now)
	})
}

// Release gives back the listed claims still owned (core.Event.Release)
// and parks ParkOrigin's other pending events due before Until
// (core.Event.Park). A released event is due at Until, so parking leaves
// it alone and it is not counted twice.
func (s *Store) Release(ctx context.Context, p ports.ReleaseParams) (ports.ReleaseResult, error) {
	now := s.now(p.Now)
	until := now
	if !p.Until.IsZero() {
		until = fromMicros(p.Until.UnixMicro())
	}
	var res ports.ReleaseResult
	err := s.write(ctx, "release", func(ctx context.Context, tx bun.Tx) error {
		res = ports.ReleaseResult{}
		for _, c := range p.Claims {
			e, err := selectEvent(ctx, tx, c.ID)
			if errors.Is(err, core.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			released, err := e.Release(p.Worker, c.Seq, until, now)
			if err != nil {
				continue // no longer ours: someone else's state wins
			}
			if err := save(ctx, tx, released); err != nil {
				return err
			}
			res.Released++
		}
		if p.ParkOrigin == "" {
			return nil
		}
		parkable, err := selectEvents(ctx, tx.NewSelect().Where("status = 'pending'").
			Where("origin = ?", p.ParkOrigin).Where("next_attempt_at < ?", until.UnixMicro()))
		if err != nil {
			return err
		}
		for _, e := range parkable {
			if parked, changed := e.Park(until, now); changed {
				if err := save(ctx, tx, parked); err != nil {
					return err
				}
				res.Parked++
			}
		}
		return nil
	})
	if err != nil {
		return ports.ReleaseResult{}, err
	}
	if res.Released > 0 && !until.After(now) {
		s.wake.Notify()
	}
	return res, nil
}

// Replay makes a finished event pending again (core.Event.Replay).
func (s *Store) Replay(ctx context.Context, p ports.ReplayParams) (core.Event, error) {
	now := s.now(p.Now)
	var replayed core.Event
	err := s.write(ctx, "replay", func(ctx context.Context, tx bun.Tx) error {
		e, err := selectEvent(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if replayed, err = e.Replay(now); err != nil {
			return err
		}
		return save(ctx, tx, replayed)
	})
	if err != nil {
		return core.Event{}, err
	}
	s.wake.Notify()
	return normalized(replayed), nil
}

func (s *Store) Ping(ctx context.Context) error {
	return interpretError("ping", s.db.Read.PingContext(ctx))
}

// selectEvent reads one event inside a write transaction.
func selectEvent(ctx context.Context, tx bun.Tx, id core.EventID) (core.Event, error) {
	var row eventRow
	err := tx.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Event{}, fmt.Errorf("sqlite: event %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Event{}, err
	}
	return toCore(row)
}

// selectEvents runs q (a query on events without a model) and returns its
// rows as events.
func selectEvents(ctx context.Context, q *bun.SelectQuery) ([]core.Event, error) {
	var rows []eventRow
	if err := q.Model(&rows).Scan(ctx); err != nil {
		return nil, err
	}
	return rowsToCore(rows)
}

// save writes e's mutable columns back to its row.
func save(ctx context.Context, tx bun.Tx, e core.Event) error {
	row := fromCore(e)
	res, err := tx.NewUpdate().Model(&row).Column(mutable...).WherePK().Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("sqlite: save event %s: %d rows updated, want 1", e.ID, n)
	}
	return nil
}

func insertAttempt(ctx context.Context, tx bun.Tx, a core.Attempt, now time.Time) error {
	row := attemptFromCore(a, now)
	_, err := tx.NewInsert().Model(&row).Exec(ctx)
	return err
}

// normalized is e as read back from its row (times at microseconds).
func normalized(e core.Event) core.Event {
	n, _ := toCore(fromCore(e)) // e's status is valid: it came from core
	return n
}
