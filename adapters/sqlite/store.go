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

// Store is the SQLite ports.EventStore and ports.EndpointStore. It is its
// own Wakeup: inserts, replays and releases due at once signal C(), in
// this process (the only one on the file).
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
	return worded(op, s.db.commits.write(ctx, fn))
}

// read runs fn in a read transaction on the reading pool, so that the
// several statements of one answer (an event and its deliveries, a page
// and its total) see one snapshot.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context, tx bun.Tx) error) error {
	return worded(op, s.db.Read.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, fn))
}

// worded interprets a database error; any other (the domain's answer, a
// change refused, a row that does not decode) is already worded.
func worded(op string, err error) error {
	if err == nil || !fromDatabase(err) {
		return err
	}
	return interpretError(op, err)
}

// Insert stores the event and its deliveries in one write transaction,
// where it also reads the endpoints to route to, so that an endpoint
// disabled or created meanwhile is seen either wholly before or wholly
// after.
func (s *Store) Insert(ctx context.Context, p ports.InsertParams) (ports.Inserted, error) {
	now := s.now(p.Now)
	ev := p.Event
	ev.CreatedAt = now
	due := now
	if !p.DueAt.IsZero() {
		due = fromMicros(p.DueAt.UnixMicro())
	}
	var out ports.Inserted
	err := s.write(ctx, "insert", func(ctx context.Context, tx bun.Tx) error {
		out = ports.Inserted{}
		if ev.IdempotencyKey != "" {
			var first eventRow
			err := tx.NewSelect().Model(&first).Where("idempotency_key = ?", ev.IdempotencyKey).Scan(ctx)
			if err == nil {
				ds, err := deliveriesOf(ctx, tx, first.ID)
				out = ports.Inserted{Event: eventToCore(first), Deliveries: ds[first.ID]}
				return err
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		ds, err := route(ctx, tx, ev, due, now)
		if err != nil {
			return err
		}
		row := eventFromCore(ev)
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		if len(ds) > 0 {
			rows := make([]deliveryRow, len(ds))
			for i, d := range ds {
				rows[i] = fromCore(d)
			}
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return err
			}
		}
		out = ports.Inserted{Event: eventToCore(row), Deliveries: ds, Created: true}
		return nil
	})
	if err != nil {
		return ports.Inserted{}, err
	}
	if out.Created && len(out.Deliveries) > 0 {
		s.wake.Notify()
	}
	return out, nil
}

// route returns ev's new deliveries, oldest first (all are as old: by id),
// due at due: one to its target_url, with its id; or one to each endpoint
// core.Event.Routes sends it to, read in tx. The query only narrows the
// read (a disabled endpoint, another than the one named, is never routed
// to); Routes decides.
func route(ctx context.Context, tx bun.Tx, ev core.Event, due, now time.Time) ([]core.Delivery, error) {
	pending := func(id core.DeliveryID, ep core.EndpointID, url, origin string) core.Delivery {
		return core.Delivery{ID: id, EventID: ev.ID, EndpointID: ep, TargetURL: url, Origin: origin,
			Status: core.StatusPending, NextAttemptAt: due, ActiveSince: now, CreatedAt: now, UpdatedAt: now}
	}
	if !ev.RoutedToEndpoints() {
		return []core.Delivery{pending(ev.ID, "", ev.TargetURL, ev.Origin)}, nil
	}
	var rows []endpointRow
	// Only what routing reads: the secrets stay on disk.
	q := tx.NewSelect().Model(&rows).Column("id", "url", "origin", "event_types", "disabled").Where("NOT disabled")
	if ev.EndpointID != "" {
		q = q.Where("id = ?", string(ev.EndpointID))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	var ds []core.Delivery
	for _, r := range rows {
		ep, err := endpointToCore(r)
		if err != nil {
			return nil, err
		}
		if ev.Routes(ep) {
			ds = append(ds, pending(core.NewEventID(now), ep.ID, ep.URL, ep.Origin))
		}
	}
	slices.SortFunc(ds, func(a, b core.Delivery) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return ds, nil
}

func (s *Store) Event(ctx context.Context, id core.EventID) (ports.EventRecord, error) {
	var rec ports.EventRecord
	err := s.read(ctx, "event "+string(id), func(ctx context.Context, tx bun.Tx) error {
		var row eventRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx); err != nil {
			return err
		}
		ds, err := deliveriesOf(ctx, tx, row.ID)
		rec = ports.EventRecord{Event: eventToCore(row), Deliveries: ds[row.ID]}
		return err
	})
	if err != nil {
		return ports.EventRecord{}, err
	}
	return rec, nil
}

func (s *Store) Get(ctx context.Context, id core.DeliveryID) (core.Delivery, error) {
	var d core.Delivery
	err := s.read(ctx, "get "+string(id), func(ctx context.Context, tx bun.Tx) error {
		var err error
		if d, err = selectDelivery(ctx, tx, id); err != nil {
			return err
		}
		d.Body, err = bodyOf(ctx, tx, d.EventID)
		return err
	})
	if err != nil {
		return core.Delivery{}, err
	}
	return d, nil
}

func (s *Store) Attempts(ctx context.Context, id core.DeliveryID) ([]core.Attempt, error) {
	var rows []attemptRow
	err := s.read(ctx, "attempts "+string(id), func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&rows).Where("delivery_id = ?", string(id)).Order("id").Scan(ctx); err != nil {
			return err
		}
		if len(rows) > 0 {
			return nil
		}
		// No history yet, or no such delivery: only the latter is an error.
		_, err := selectDelivery(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]core.Attempt, len(rows))
	for i, r := range rows {
		out[i] = attemptToCore(r)
	}
	return out, nil
}

// List pages events newest first. The status and endpoint filters hold
// for one delivery together ("an event with a dead delivery to this
// endpoint"), as memory's do.
// Claim, in one write transaction: declares dead the delivering rows
// whose lease expired during their final attempt (core.Delivery.Abandon),
// takes the due probes of open targets (claimProbes), then leases the
// oldest due of the pending rows and the expired leases
// (core.Delivery.Claim), each kind read in due order off its partial
// index, up to what the probes left of Limit. It flags the deliveries of
// targets still open (TargetOpenUntil) and reads what the claimed need to
// be sent: their events' bodies and their endpoints' current URL and keys.
func (s *Store) Claim(ctx context.Context, p ports.ClaimParams) ([]core.Delivery, error) {
	now := s.now(p.Now)
	var claimed []core.Delivery
	err := s.write(ctx, "claim", func(ctx context.Context, tx bun.Tx) error {
		claimed = nil
		expired := func(q *bun.SelectQuery) *bun.SelectQuery {
			q = q.Where("status = 'delivering'").Where("lease_expires_at <= ?", now.UnixMicro())
			if len(p.ExcludeOrigins) > 0 {
				q = q.Where("origin NOT IN (?)", bun.List(p.ExcludeOrigins))
			}
			return q.OrderExpr("lease_expires_at, id")
		}
		lost, err := selectDeliveries(ctx, expired(tx.NewSelect()).Where("attempted_count >= ?", p.MaxAttempts).Limit(maxAbandonPerClaim))
		if err != nil {
			return err
		}
		for _, d := range lost {
			dead, record, err := d.Abandon(now)
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
		probes, err := claimProbes(ctx, tx, p, now)
		if err != nil {
			return err
		}
		claimed = probes
		left := p.Limit - len(probes)
		if left <= 0 {
			return equip(ctx, tx, claimed)
		}
		// Both reads take Limit rows, not left: a probe leased for no time
		// would read as an expired lease, and is dropped below.
		leases, err := selectDeliveries(ctx, expired(tx.NewSelect()).Where("attempted_count < ?", p.MaxAttempts).Limit(int64(p.Limit)))
		if err != nil {
			return err
		}
		pq := tx.NewSelect().Where("status = 'pending'").Where("next_attempt_at <= ?", now.UnixMicro())
		if len(p.ExcludeOrigins) > 0 {
			pq = pq.Where("origin NOT IN (?)", bun.List(p.ExcludeOrigins))
		}
		pending, err := selectDeliveries(ctx, pq.OrderExpr("next_attempt_at, id").Limit(int64(p.Limit)))
		if err != nil {
			return err
		}
		due := slices.DeleteFunc(append(leases, pending...), func(d core.Delivery) bool {
			return slices.ContainsFunc(probes, func(pr core.Delivery) bool { return pr.ID == d.ID })
		})
		slices.SortFunc(due, func(a, b core.Delivery) int {
			return cmp.Or(dueAt(a).Compare(dueAt(b)), strings.Compare(string(a.ID), string(b.ID)))
		})
		due = core.FirstPerOrigin(due, p.MaxPerOrigin, p.OriginCaps, func(d core.Delivery) string { return d.Origin })
		var taken []core.Delivery
		for _, d := range due[:min(len(due), left)] {
			c, err := d.Claim(p.Worker, now, p.Lease)
			if err != nil {
				return err
			}
			if err := save(ctx, tx, c); err != nil {
				return err
			}
			taken = append(taken, normalized(c))
		}
		if err := flagOpenTargets(ctx, tx, taken); err != nil {
			return err
		}
		claimed = append(claimed, taken...)
		return equip(ctx, tx, claimed)
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// claimProbes takes the probe of each open target whose probe is due
// (core.TargetHealth.ProbeDue), up to p.Limit, in origin order (the
// primary key's, so the read needs no sort; origin rather than open_until
// order, as memory's, keeps the stores' answers alike): the target's
// oldest pending delivery, due or parked (core.Delivery.ClaimProbe), and
// its row starts probing (StartProbe). A target with no pending delivery
// left is forgotten, and the next one in order is tried instead.
func claimProbes(ctx context.Context, tx bun.Tx, p ports.ClaimParams, now time.Time) ([]core.Delivery, error) {
	var out []core.Delivery
	// Read in batches after the last origin seen, so that a forgotten
	// target's place goes to the next one, as in memory's loop.
	for after := ""; len(out) < p.Limit; {
		batch := p.Limit - len(out)
		var rows []targetRow
		// The query only narrows the read: ProbeDue decides.
		q := tx.NewSelect().Model(&rows).Where("origin > ?", after).Where("open_until <= ?", now.UnixMicro()).
			Where("probe_until IS NULL OR probe_until <= ?", now.UnixMicro())
		if len(p.ExcludeOrigins) > 0 {
			q = q.Where("origin NOT IN (?)", bun.List(p.ExcludeOrigins))
		}
		if err := q.OrderExpr("origin").Limit(int64(batch)).Scan(ctx); err != nil {
			return nil, err
		}
		for _, r := range rows {
			after = r.Origin
			h := targetToCore(r)
			if !h.ProbeDue(now) {
				continue
			}
			d, found, err := oldestPending(ctx, tx, h.Origin)
			if err != nil {
				return nil, err
			}
			if !found {
				if _, err := tx.NewDelete().Model((*targetRow)(nil)).Where("origin = ?", h.Origin).Exec(ctx); err != nil {
					return nil, err
				}
				continue
			}
			probe, err := d.ClaimProbe(p.Worker, now, p.Lease)
			if err != nil {
				return nil, err
			}
			if err := save(ctx, tx, probe); err != nil {
				return nil, err
			}
			if err := saveTarget(ctx, tx, h.StartProbe(p.Lease, now)); err != nil {
				return nil, err
			}
			c := normalized(probe)
			c.Probe = true // a mark on this answer, not on the row
			out = append(out, c)
		}
		if len(rows) < batch {
			break // no more due targets
		}
	}
	return out, nil
}

// oldestPending reads origin's oldest pending delivery by (next_attempt_at,
// id). The pending-origin index gives its next_attempt_at; the ties at that
// instant are then read in id order off the pending-due index, which holds
// id (the pending-origin index does not: ordering by it there would sort).
// Only rows due at that very microsecond are read, other origins' included.
func oldestPending(ctx context.Context, tx bun.Tx, origin string) (core.Delivery, bool, error) {
	oldest := tx.NewSelect().Table("deliveries").Column("next_attempt_at").
		Where("status = 'pending'").Where("origin = ?", origin).OrderExpr("next_attempt_at").Limit(1)
	ds, err := selectDeliveries(ctx, tx.NewSelect().Where("status = 'pending'").Where("next_attempt_at = (?)", oldest).
		Where("origin = ?", origin).OrderExpr("id").Limit(1))
	if err != nil || len(ds) == 0 {
		return core.Delivery{}, false, err
	}
	return ds[0], true, nil
}

// flagOpenTargets sets TargetOpenUntil on each claimed delivery (none a
// probe) whose origin has a targets row: its worker parks it rather than
// send it. Rows are read by primary key.
func flagOpenTargets(ctx context.Context, tx bun.Tx, ds []core.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	var origins []string
	for _, d := range ds {
		if !slices.Contains(origins, d.Origin) {
			origins = append(origins, d.Origin)
		}
	}
	var rows []targetRow
	if err := tx.NewSelect().Model(&rows).Where("origin IN (?)", bun.List(origins)).Scan(ctx); err != nil {
		return err
	}
	for _, r := range rows {
		h := targetToCore(r)
		for i := range ds {
			if ds[i].Origin == h.Origin {
				until := h.OpenUntil
				ds[i].TargetOpenUntil = &until
			}
		}
	}
	return nil
}

// equip gives each claimed delivery its event's body and, for an endpoint
// delivery, the endpoint's current URL, origin and signing keys; none
// (nil Keys) when the endpoint is gone or disabled. Both are read by
// primary key, one statement each.
func equip(ctx context.Context, tx bun.Tx, ds []core.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	var eventIDs, endpointIDs []string
	for _, d := range ds {
		eventIDs = append(eventIDs, string(d.EventID))
		if d.EndpointID != "" {
			endpointIDs = append(endpointIDs, string(d.EndpointID))
		}
	}
	var bodies []eventRow
	if err := tx.NewSelect().Model(&bodies).Column("id", "body").Where("id IN (?)", bun.List(eventIDs)).Scan(ctx); err != nil {
		return err
	}
	bodyOf := make(map[core.EventID][]byte, len(bodies))
	for _, r := range bodies {
		bodyOf[core.EventID(r.ID)] = r.Body
	}
	endpoints := make(map[core.EndpointID]core.Endpoint)
	if len(endpointIDs) > 0 {
		var rows []endpointRow
		if err := tx.NewSelect().Model(&rows).Where("id IN (?)", bun.List(endpointIDs)).Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			ep, err := endpointToCore(r)
			if err != nil {
				return err
			}
			endpoints[ep.ID] = ep
		}
	}
	for i := range ds {
		d := &ds[i]
		d.Body = bodyOf[d.EventID]
		if ep, ok := endpoints[d.EndpointID]; ok && !ep.Disabled {
			d.TargetURL, d.Origin, d.Endpoint = ep.URL, ep.Origin, core.StateOf(ep)
		}
	}
	return nil
}

// dueAt is when a claimable delivery became due: a pending one at
// NextAttemptAt, an expired lease at LeaseExpiresAt.
func dueAt(d core.Delivery) time.Time {
	if d.Status == core.StatusDelivering && d.LeaseExpiresAt != nil {
		return *d.LeaseExpiresAt
	}
	return d.NextAttemptAt
}

// Complete records the decision (core.Delivery.Complete) and the attempt
// together. Only the claim that owns the delivery may: anyone else gets
// core.ErrLeaseLost and nothing is written.
func (s *Store) Complete(ctx context.Context, p ports.CompleteParams) error {
	now := s.now(p.Now)
	return s.write(ctx, "complete", func(ctx context.Context, tx bun.Tx) error {
		d, err := selectDelivery(ctx, tx, p.Claim.ID)
		if err != nil {
			return err
		}
		done, err := d.Complete(p.Worker, p.Claim.Seq, p.Decision, now)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		rec := p.Record
		rec.DeliveryID, rec.Number, rec.Worker = d.ID, p.Claim.Attempt, p.Worker
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

// Release gives back the listed claims still owned
// (core.Delivery.Release), due at Until, or for ParkOrigin's at their park's
// end (core.Delivery.ParkedUntil). With ParkOrigin it also opens the
// target's row (core.TargetHealth.Open) and parks the origin's other
// pending deliveries due before Until (park). A released delivery is
// already due at or after Until, so parking leaves it alone and it is not
// counted twice.
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
			d, err := selectDelivery(ctx, tx, c.ID)
			if errors.Is(err, core.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			due := until
			if d.Origin == p.ParkOrigin {
				due = d.ParkedUntil(until, p.ParkFor)
			}
			released, err := d.Release(p.Worker, c.Seq, due, now)
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
		h, err := selectTarget(ctx, tx, p.ParkOrigin)
		if err != nil {
			return err
		}
		h = h.Open(until, now)
		h.Origin = p.ParkOrigin
		if err := saveTarget(ctx, tx, h); err != nil {
			return err
		}
		res.Parked, err = park(ctx, tx, p.ParkOrigin, until, p.ParkFor, now)
		return err
	})
	if err != nil {
		return ports.ReleaseResult{}, err
	}
	if res.Released > 0 && !until.After(now) {
		s.wake.Notify()
	}
	return res, nil
}

// park parks origin's pending deliveries due before until
// (core.Delivery.Park), read through the pending-origin index, and returns
// how many it moved.
func park(ctx context.Context, tx bun.Tx, origin string, until time.Time, parkFor time.Duration, now time.Time) (int, error) {
	parkable, err := selectDeliveries(ctx, tx.NewSelect().Where("status = 'pending'").
		Where("origin = ?", origin).Where("next_attempt_at < ?", until.UnixMicro()))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range parkable {
		if parked, changed := d.Park(until, parkFor, now); changed {
			if err := save(ctx, tx, parked); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Probed records a probe's outcome. OK closes the target: its row is
// deleted and its pending deliveries waiting past now are due at once
// (core.Delivery.Unpark). Otherwise the row reopens until Until
// (core.TargetHealth.Reopen) and the origin is parked as Release parks it.
func (s *Store) Probed(ctx context.Context, p ports.ProbedParams) error {
	now := s.now(p.Now)
	until := fromMicros(p.Until.UnixMicro())
	woke := false
	err := s.write(ctx, "probed", func(ctx context.Context, tx bun.Tx) error {
		woke = false
		if !p.OK {
			h, err := selectTarget(ctx, tx, p.Origin)
			if err != nil {
				return err
			}
			h = h.Reopen(until, now)
			h.Origin = p.Origin
			if err := saveTarget(ctx, tx, h); err != nil {
				return err
			}
			_, err = park(ctx, tx, p.Origin, until, p.ParkFor, now)
			return err
		}
		if _, err := tx.NewDelete().Model((*targetRow)(nil)).Where("origin = ?", p.Origin).Exec(ctx); err != nil {
			return err
		}
		parked, err := selectDeliveries(ctx, tx.NewSelect().Where("status = 'pending'").
			Where("origin = ?", p.Origin).Where("next_attempt_at > ?", now.UnixMicro()))
		if err != nil {
			return err
		}
		for _, d := range parked {
			if unparked, changed := d.Unpark(now); changed {
				if err := save(ctx, tx, unparked); err != nil {
					return err
				}
				woke = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if woke {
		s.wake.Notify()
	}
	return nil
}

// Targets lists the open targets' rows, by origin.
func (s *Store) Targets(ctx context.Context) ([]core.TargetHealth, error) {
	var rows []targetRow
	err := s.read(ctx, "targets", func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model(&rows).OrderExpr("origin").Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]core.TargetHealth, len(rows))
	for i, r := range rows {
		out[i] = targetToCore(r)
	}
	return out, nil
}

// Replay makes a finished delivery pending again (core.Delivery.Replay).
func (s *Store) Replay(ctx context.Context, p ports.ReplayParams) (core.Delivery, error) {
	now := s.now(p.Now)
	var replayed core.Delivery
	err := s.write(ctx, "replay", func(ctx context.Context, tx bun.Tx) error {
		d, err := selectDelivery(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if replayed, err = d.Replay(now); err != nil {
			return err
		}
		if err := save(ctx, tx, replayed); err != nil {
			return err
		}
		replayed = normalized(replayed)
		replayed.Body, err = bodyOf(ctx, tx, replayed.EventID)
		return err
	})
	if err != nil {
		return core.Delivery{}, err
	}
	s.wake.Notify()
	return replayed, nil
}

func (s *Store) Ping(ctx context.Context) error {
	return interpretError("ping", s.db.Read.PingContext(ctx))
}

// selectDelivery reads one delivery, without its body.
func selectDelivery(ctx context.Context, tx bun.Tx, id core.DeliveryID) (core.Delivery, error) {
	var row deliveryRow
	err := tx.NewSelect().Model(&row).Where("id = ?", string(id)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Delivery{}, fmt.Errorf("sqlite: delivery %s: %w", id, core.ErrNotFound)
	}
	if err != nil {
		return core.Delivery{}, err
	}
	return toCore(row)
}

// selectDeliveries runs q (a query on deliveries without a model) and
// returns its rows, without their bodies.
func selectDeliveries(ctx context.Context, q *bun.SelectQuery) ([]core.Delivery, error) {
	var rows []deliveryRow
	if err := q.Model(&rows).Scan(ctx); err != nil {
		return nil, err
	}
	return rowsToCore(rows)
}

// deliveriesOf returns the deliveries of the given events, without their
// bodies, each event's oldest first.
func deliveriesOf(ctx context.Context, tx bun.Tx, eventIDs ...string) (map[string][]core.Delivery, error) {
	ds, err := selectDeliveries(ctx, tx.NewSelect().Where("event_id IN (?)", bun.List(eventIDs)).
		OrderExpr("event_id, created_at, id"))
	if err != nil {
		return nil, err
	}
	out := make(map[string][]core.Delivery, len(eventIDs))
	for _, d := range ds {
		out[string(d.EventID)] = append(out[string(d.EventID)], d)
	}
	return out, nil
}

// bodyOf reads an event's body (there is one: a delivery's event_id is a
// foreign key).
func bodyOf(ctx context.Context, tx bun.Tx, id core.EventID) ([]byte, error) {
	var row eventRow
	err := tx.NewSelect().Model(&row).Column("body").Where("id = ?", string(id)).Scan(ctx)
	return row.Body, err
}

// save writes d's mutable columns back to its row.
func save(ctx context.Context, tx bun.Tx, d core.Delivery) error {
	row := fromCore(d)
	res, err := tx.NewUpdate().Model(&row).Column(mutable...).WherePK().Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("sqlite: save delivery %s: %d rows updated, want 1", d.ID, n)
	}
	return nil
}

// selectTarget reads origin's targets row; the zero TargetHealth when the
// target is healthy (it has none).
func selectTarget(ctx context.Context, tx bun.Tx, origin string) (core.TargetHealth, error) {
	var row targetRow
	err := tx.NewSelect().Model(&row).Where("origin = ?", origin).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return core.TargetHealth{}, nil
	}
	if err != nil {
		return core.TargetHealth{}, err
	}
	return targetToCore(row), nil
}

// saveTarget writes h as its origin's targets row, created if none: the
// state was read and decided in this transaction, so every column is
// written as it is.
func saveTarget(ctx context.Context, tx bun.Tx, h core.TargetHealth) error {
	row := targetFromCore(h)
	_, err := tx.NewInsert().Model(&row).On("CONFLICT (origin) DO UPDATE").
		Set("open_until = EXCLUDED.open_until").Set("probe_until = EXCLUDED.probe_until").
		Set("opened_at = EXCLUDED.opened_at").Set("updated_at = EXCLUDED.updated_at").Exec(ctx)
	return err
}

func insertAttempt(ctx context.Context, tx bun.Tx, a core.Attempt, now time.Time) error {
	row := attemptFromCore(a, now)
	_, err := tx.NewInsert().Model(&row).Exec(ctx)
	return err
}

// normalized is d as read back from its row (times at microseconds),
// without a body or keys.
func normalized(d core.Delivery) core.Delivery {
	n, _ := toCore(fromCore(d)) // d's status is valid: it came from core
	return n
}
