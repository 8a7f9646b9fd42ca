-- The events/deliveries split. What a producer posted (its body, type and
-- idempotency key) is stored once, in a new events table; the queue keeps
-- one row per target, in deliveries. The old events table IS the queue, so
-- it is renamed rather than copied: every queued row, its claim state and
-- its attempt history stay where they are, and every id a client was given
-- keeps naming the same row. Each old row becomes an event of its own with
-- the same id (a target_url event's one delivery has its event's id).
--
-- The rename comes first, with every object named after the table, so that
-- the names events_* are free for the new table and match what they are on.
ALTER TABLE events RENAME TO deliveries;

--bun:split

ALTER TABLE deliveries RENAME CONSTRAINT events_pkey TO deliveries_pkey;

--bun:split

ALTER TABLE deliveries RENAME CONSTRAINT events_status_check TO deliveries_status_check;

--bun:split

ALTER TABLE deliveries RENAME CONSTRAINT events_attempted_count_check TO deliveries_attempted_count_check;

--bun:split

ALTER TABLE deliveries RENAME CONSTRAINT events_lease_check TO deliveries_lease_check;

--bun:split

-- The claim's partial indexes (pending due, lease expiry), parking's
-- (pending origin) and the listing ones stay as they are, renamed.
ALTER INDEX events_pending_due_idx RENAME TO deliveries_pending_due_idx;

--bun:split

ALTER INDEX events_lease_expiry_idx RENAME TO deliveries_lease_expiry_idx;

--bun:split

ALTER INDEX events_pending_origin_idx RENAME TO deliveries_pending_origin_idx;

--bun:split

ALTER INDEX events_created_idx RENAME TO deliveries_created_idx;

--bun:split

ALTER INDEX events_finished_created_idx RENAME TO deliveries_finished_created_idx;

--bun:split

ALTER INDEX events_pending_created_idx RENAME TO deliveries_pending_created_idx;

--bun:split

-- The wake-up trigger moved with the table: a claimable row is a delivery,
-- so inserting deliveries is what must wake the workers (an event routed to
-- no endpoint has nothing to claim, and wakes nobody).
ALTER TRIGGER events_notify_inserted ON deliveries RENAME TO deliveries_notify_inserted;

--bun:split

ALTER FUNCTION events_notify_inserted() RENAME TO deliveries_notify_inserted;

--bun:split

-- One row per posted event. Body is bytea for the reason the queue's was
-- (exact bytes, delivered and signed). Routing (core.Event.Routes):
-- target_url (and its origin) for the seed's single-target events; else
-- endpoint_id for an event sent to one endpoint; else every enabled
-- endpoint subscribed to event_type. endpoint_id has no foreign key: the
-- event is a record of what was posted, which deleting the endpoint does not
-- change.
CREATE TABLE events (
    id              uuid PRIMARY KEY,
    event_type      text NOT NULL DEFAULT '',
    target_url      text NULL,
    origin          text NULL,
    endpoint_id     uuid NULL,
    body            bytea NOT NULL,
    idempotency_key text,
    created_at      timestamptz NOT NULL,
    CONSTRAINT events_target_check CHECK ((target_url IS NULL) = (origin IS NULL))
);

--bun:split

-- Every existing row was a target_url event: it becomes its own event, with
-- its id, body, key and creation time.
INSERT INTO events (id, target_url, origin, body, idempotency_key, created_at)
SELECT id, target_url, origin, body, idempotency_key, created_at FROM deliveries;

--bun:split

-- Idempotency is the event's: the key's unique index moves to events (built
-- after the copy, which is faster than maintaining it row by row).
DROP INDEX events_idempotency_key_key;

--bun:split

CREATE UNIQUE INDEX events_idempotency_key_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;

--bun:split

-- Listing events, newest first: all of them, and of one type.
CREATE INDEX events_created_idx ON events (created_at DESC, id DESC);

--bun:split

CREATE INDEX events_type_created_idx ON events (event_type, created_at DESC, id DESC);

--bun:split

-- The body and the key now live on the event. Dropped before the UPDATE
-- below, so that the row versions it writes no longer carry the bodies.
ALTER TABLE deliveries DROP COLUMN body, DROP COLUMN idempotency_key;

--bun:split

-- event_id: the delivery's event. endpoint_id: the endpoint it goes to
-- (NULL for a target_url delivery). No foreign key on endpoint_id: deleting
-- an endpoint leaves its deliveries, finished or in flight, and their
-- history.
ALTER TABLE deliveries ADD COLUMN event_id uuid, ADD COLUMN endpoint_id uuid;

--bun:split

-- Each old row is its own event's delivery. This rewrites every row once
-- (in this transaction: on a big queue, migrate in a quiet hour; a VACUUM
-- afterwards gives the old row versions back).
UPDATE deliveries SET event_id = id;

--bun:split

ALTER TABLE deliveries ALTER COLUMN event_id SET NOT NULL,
    ADD CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE;

--bun:split

-- An event's deliveries (reading an event, listing a page of events, the
-- cascade of a deleted event).
CREATE INDEX deliveries_event_idx ON deliveries (event_id, id);

--bun:split

-- An endpoint's deliveries by status: cancelled when it is disabled or
-- deleted, moved when its URL changes, and the list's endpoint filter.
-- target_url deliveries (the bulk of a seed-era table) are left out.
CREATE INDEX deliveries_endpoint_status_idx ON deliveries (endpoint_id, status) WHERE endpoint_id IS NOT NULL;

--bun:split

-- The history belongs to a delivery; its foreign key followed the rename.
ALTER TABLE delivery_attempts RENAME COLUMN event_id TO delivery_id;

--bun:split

ALTER TABLE delivery_attempts RENAME CONSTRAINT delivery_attempts_event_id_fkey TO delivery_attempts_delivery_id_fkey;

--bun:split

ALTER INDEX delivery_attempts_event_idx RENAME TO delivery_attempts_delivery_idx;

--bun:split

-- uuid_v7(at) is a UUIDv7 for instant at (RFC 9562: 48 bits of Unix
-- milliseconds, version 7, 74 random bits), the form of core.NewEventID.
-- An event routed to endpoints gets one delivery per endpoint, and which
-- endpoints is known only inside the inserting statement (it reads them),
-- so the ids are made there: a v4 from gen_random_uuid() with its first 48
-- bits replaced by the time and its version nibble set from 4 to 7 (bits
-- 52 and 53; the variant bits are already RFC 9562's). Time-ordered ids
-- keep the primary key's B-tree appending at its right edge. VOLATILE:
-- every call is a new id.
CREATE FUNCTION uuid_v7(at timestamptz) RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

--bun:split

-- failing_since: when the endpoint's current run of failed attempts began
-- (NULL after a success). ENDPOINT_DISABLE_AFTER_MS counts from it. It is
-- written only when the run starts or ends, never per attempt.
ALTER TABLE endpoints ADD COLUMN failing_since timestamptz;
