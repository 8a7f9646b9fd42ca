package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/webhookd/webhookd/core"
	"github.com/webhookd/webhookd/ports"
)

// Inserts are group-committed (batch.go): one statement stores a batch of
// events and their deliveries, atomically. Idempotency is per row: a key
// already stored (or taken by an earlier row of the same statement) makes
// that call return the stored event. If the statement fails as a whole (a
// duplicate id), each of its events is tried alone, so that one bad row
// never fails its neighbours; a database outage fails the batch at once.

type insertCall = call[ports.InsertParams, ports.Inserted]

// insertBatchSQL stores a batch in one statement:
//
//  1. created: the events; a key already taken skips its row. They are
//     written in key order, then batch order (ord): of two rows with one
//     key the first wins, and concurrent batches wait for each other's keys
//     in one order, never in a cycle (a deadlock);
//  2. subscribers: the enabled endpoints some created event may route to,
//     locked FOR KEY SHARE until commit. UpdateEndpoint and DeleteEndpoint
//     lock the endpoint first (FOR UPDATE, DELETE), so each waits for the
//     other: an endpoint disabled, moved or deleted concurrently either
//     sees these deliveries (and cancels or moves them) or is seen here as
//     it is after the change (and routes accordingly). The one-time EXISTS
//     skips the read when the batch routes nothing to endpoints;
//  3. routed: the deliveries (mirrors core.Event.Routes): a target_url
//     event gets one, whose id is the event's; an event naming an endpoint,
//     one to it if it is enabled; any other, one per enabled endpoint
//     subscribed to its type (no types: every type). Their ids are
//     UUIDv7s made by the migration's uuid_v7(), because which endpoints
//     match is only known here;
//  4. stored: the deliveries, pending and due at next (or at once). If it
//     stored any, insertRows has the schema's channel notified once the
//     statement committed (notify.go).
//
// It returns one row per created event and delivery (the delivery columns
// NULL for an event routed nowhere): of a delivery, only what the statement
// did not know beforehand; the rest is what it wrote (storedDelivery).
// Reading every column back cost the API a tenth of its CPU, mostly
// parsing timestamps it had sent.
const insertBatchSQL = `
WITH input AS (
    SELECT * FROM unnest(?ids::uuid[], ?types::text[], ?targets::text[], ?origins::text[], ?endpoints::text[],
                         ?bodies::bytea[], ?keys::text[], ?ats::text[], ?nexts::text[]) WITH ORDINALITY
        AS i (id, event_type, target_url, origin, endpoint_id, body, idempotency_key, at, next, ord)
), stamped AS (
    SELECT id, event_type, NULLIF(target_url, '') AS target_url, NULLIF(origin, '') AS origin,
           NULLIF(endpoint_id, '')::uuid AS endpoint_id, body, NULLIF(idempotency_key, '') AS idempotency_key,
           coalesce(NULLIF(at, '')::timestamptz, now()) AS at, NULLIF(next, '')::timestamptz AS next, ord
    FROM input
), created AS (
    INSERT INTO events (id, event_type, target_url, origin, endpoint_id, body, idempotency_key, created_at)
    SELECT id, event_type, target_url, origin, endpoint_id, body, idempotency_key, at
    FROM stamped ORDER BY idempotency_key, ord
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, event_type, target_url, origin, endpoint_id, created_at
), subscribers AS MATERIALIZED (
    SELECT en.id, en.url, en.origin, en.event_types
    FROM endpoints en
    WHERE EXISTS (SELECT 1 FROM created WHERE target_url IS NULL)
      AND NOT en.disabled
      AND (en.id IN (SELECT endpoint_id FROM created WHERE target_url IS NULL)
           OR (cardinality(en.event_types) = 0
               AND EXISTS (SELECT 1 FROM created WHERE target_url IS NULL AND endpoint_id IS NULL))
           OR en.event_types && ARRAY(SELECT event_type FROM created WHERE target_url IS NULL AND endpoint_id IS NULL))
    FOR KEY SHARE
), routed AS (
    SELECT c.id AS id, c.id AS event_id, NULL::uuid AS endpoint_id, c.target_url, c.origin, c.created_at
    FROM created c
    WHERE c.target_url IS NOT NULL
    UNION ALL
    SELECT uuid_v7(c.created_at), c.id, en.id, en.url, en.origin, c.created_at
    FROM created c JOIN subscribers en
      ON c.endpoint_id = en.id
      OR (c.endpoint_id IS NULL AND (cardinality(en.event_types) = 0 OR c.event_type = ANY (en.event_types)))
    WHERE c.target_url IS NULL
), stored AS (
    INSERT INTO deliveries (id, event_id, endpoint_id, target_url, origin, next_attempt_at, active_since,
                            created_at, updated_at)
    SELECT r.id, r.event_id, r.endpoint_id, r.target_url, r.origin, coalesce(s.next, r.created_at), r.created_at,
           r.created_at, r.created_at
    FROM routed r JOIN stamped s ON s.id = r.event_id
    ORDER BY r.id
    RETURNING id, event_id, endpoint_id, target_url, origin, next_attempt_at
)
SELECT c.id AS ev_id, c.created_at AS ev_created_at, d.id, d.endpoint_id, d.target_url, d.origin, d.next_attempt_at
FROM created c LEFT JOIN stored d ON d.event_id = c.id
ORDER BY c.id, d.id`

// newInsertQuery is insertBatchSQL prepared (prepared.go): its planning
// took 0.6 ms per batch, for 0.9 ms of work.
func newInsertQuery() *preparedQuery { return newPreparedQuery(insertBatchSQL, nil) }

// insertedRow is one row of insertBatchSQL: a created event and one of its
// deliveries (ID "" for none).
type insertedRow struct {
	EvID        string    `bun:"ev_id"`
	EvCreatedAt time.Time `bun:"ev_created_at"`
	deliveryRow
}

// storedDelivery is r's delivery as insertBatchSQL stored it: pending, no
// attempt, no claim, created, updated and active since its event's
// creation; the columns the statement returns complete it.
func storedDelivery(r insertedRow) deliveryRow {
	d := r.deliveryRow
	d.EventID, d.Status = r.EvID, string(core.StatusPending)
	d.CreatedAt, d.UpdatedAt, d.ActiveSince = r.EvCreatedAt, r.EvCreatedAt, r.EvCreatedAt
	return d
}

// insertBatch is the inserter's run: one statement for the batch, then
// the stored events of the keys that were already taken.
func (s *Store) insertBatch(ctx context.Context, batch []*insertCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if c.err = checkInsert(c.p); c.err == nil {
			live = append(live, c) // a malformed row never reaches, nor fails, the statement
		}
	}
	if len(live) == 0 {
		return
	}
	params := make([]ports.InsertParams, len(live))
	for i, c := range live {
		params[i] = c.p
	}
	created, err := s.insertRows(ctx, params)
	if err != nil {
		if len(live) == 1 || errors.Is(err, core.ErrUnavailable) {
			for _, c := range live { // the database, not a row, is at fault
				c.err = err
			}
			return
		}
		// Find the row at fault by storing each alone.
		for _, c := range live {
			c.res, c.err = s.insertOne(ctx, c.p)
		}
		return
	}
	for _, c := range live {
		if in, ok := created[c.p.Event.ID]; ok {
			c.res = in
			continue
		}
		// Its key was taken, by an earlier event or an earlier row of this
		// batch: answer with that event (insertOne reads it, and inserts
		// after all if it vanished meanwhile).
		if c.p.Event.IdempotencyKey == "" {
			c.err = errors.New("postgres: insert: an event without a key was not stored by its batch")
			continue
		}
		c.res, c.err = s.insertOne(ctx, c.p)
	}
}

// checkInsert refuses what the statement's casts would: ids that are not
// UUIDs.
func checkInsert(p ports.InsertParams) error {
	if !validID(p.Event.ID) {
		return fmt.Errorf("postgres: insert: event id %q is not a UUID", p.Event.ID)
	}
	if id := p.Event.EndpointID; id != "" && !validEndpointID(id) {
		return fmt.Errorf("postgres: insert: endpoint id %q is not a UUID", id)
	}
	return nil
}

// insertRows runs insertBatchSQL and returns what it created, by event id.
// An event missing from the answer was not stored: its key was taken.
func (s *Store) insertRows(ctx context.Context, ps []ports.InsertParams) (map[core.EventID]ports.Inserted, error) {
	n := len(ps)
	ids, types, targets, origins := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	endpoints, keys, ats, nexts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	bodies := make([][]byte, n)
	for i, p := range ps {
		e := p.Event
		ids[i], types[i], targets[i], origins[i] = string(e.ID), e.EventType, e.TargetURL, e.Origin
		endpoints[i], bodies[i], keys[i], ats[i] = string(e.EndpointID), e.Body, e.IdempotencyKey, timeText(p.Now)
		if !p.DueAt.IsZero() {
			nexts[i] = timeText(&p.DueAt) // "" for at
		}
	}
	params := map[string]any{
		"ids": arrayParam(ids), "types": arrayParam(types), "targets": arrayParam(targets), "origins": arrayParam(origins),
		"endpoints": arrayParam(endpoints), "bodies": byteaArrayParam(bodies), "keys": arrayParam(keys),
		"ats": arrayParam(ats), "nexts": arrayParam(nexts),
	}
	var rows []insertedRow
	if err := s.insertions.scan(ctx, s.queue, params, &rows); err != nil {
		return nil, interpretError("insert", err)
	}
	for _, r := range rows {
		if r.ID != "" { // a delivery stored, and committed: wake the workers
			s.wake.notify()
			break
		}
	}
	byID := make(map[core.EventID]ports.InsertParams, len(ps))
	for _, p := range ps {
		byID[p.Event.ID] = p
	}
	out := make(map[core.EventID]ports.Inserted, len(ps))
	for _, r := range rows {
		id := core.EventID(r.EvID)
		in, seen := out[id]
		if !seen {
			p, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("postgres: insert: stored event %s was not asked for", id)
			}
			in = ports.Inserted{Event: p.Event, Created: true}
			in.Event.CreatedAt = r.EvCreatedAt.UTC()
		}
		if r.ID != "" {
			d, err := deliveryToCore(storedDelivery(r))
			if err != nil {
				return nil, err
			}
			in.Deliveries = append(in.Deliveries, d)
		}
		out[id] = in
	}
	return out, nil
}

// insertOne stores one event in its own statement or, if its key is taken,
// returns the event stored under it.
func (s *Store) insertOne(ctx context.Context, p ports.InsertParams) (ports.Inserted, error) {
	if err := checkInsert(p); err != nil {
		return ports.Inserted{}, err
	}
	// The event holding the key could be gone (deleted by hand) between the
	// INSERT and the read of it; then the INSERT succeeds on the next round.
	for range 3 {
		created, err := s.insertRows(ctx, []ports.InsertParams{p})
		if err != nil {
			return ports.Inserted{}, err
		}
		if in, ok := created[p.Event.ID]; ok {
			return in, nil
		}
		if p.Event.IdempotencyKey == "" {
			return ports.Inserted{}, errors.New("postgres: insert: an event without a key was not stored")
		}
		rec, err := s.eventWhere(ctx, "e.idempotency_key = ?", p.Event.IdempotencyKey)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return ports.Inserted{}, err
		}
		return ports.Inserted{Event: rec.Event, Deliveries: rec.Deliveries}, nil
	}
	return ports.Inserted{}, fmt.Errorf("postgres: insert: idempotency key %q: %w", p.Event.IdempotencyKey, core.ErrConflict)
}

func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
