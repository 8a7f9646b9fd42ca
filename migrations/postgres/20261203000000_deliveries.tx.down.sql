-- Back to one table, events, that is the queue. Its limits:
--
--   * The old schema has no endpoints routing: a delivery to an endpoint
--     was signed with its endpoint's secret and sent under its event's id,
--     neither of which the old dispatcher knows. Such deliveries (and their
--     attempt history) are DELETED, as are events that have no delivery of
--     their own id (events routed to endpoints, and those routed nowhere).
--     Roll back only before endpoint events are accepted, or accept losing
--     them.
--   * Every remaining delivery is a target_url event's one delivery, with
--     the event's id: it takes back its event's body and idempotency key.
--     The event type is lost (the old schema has none).
--   * Columns come back at the end of the table, not in their old places
--     (nothing depends on the order).
DELETE FROM deliveries WHERE endpoint_id IS NOT NULL OR id <> event_id;

--bun:split

ALTER TABLE endpoints DROP COLUMN failing_since;

--bun:split

DROP FUNCTION uuid_v7(timestamptz);

--bun:split

ALTER INDEX delivery_attempts_delivery_idx RENAME TO delivery_attempts_event_idx;

--bun:split

ALTER TABLE delivery_attempts RENAME CONSTRAINT delivery_attempts_delivery_id_fkey TO delivery_attempts_event_id_fkey;

--bun:split

ALTER TABLE delivery_attempts RENAME COLUMN delivery_id TO event_id;

--bun:split

ALTER TABLE deliveries ADD COLUMN body bytea, ADD COLUMN idempotency_key text;

--bun:split

UPDATE deliveries d SET body = e.body, idempotency_key = e.idempotency_key
FROM events e WHERE e.id = d.event_id;

--bun:split

ALTER TABLE deliveries ALTER COLUMN body SET NOT NULL;

--bun:split

-- Takes deliveries_event_idx, deliveries_endpoint_status_idx and the
-- foreign key to events with them.
ALTER TABLE deliveries DROP COLUMN event_id, DROP COLUMN endpoint_id;

--bun:split

-- Its indexes (events_idempotency_key_key among them) go with it, freeing
-- the names for the queue again.
DROP TABLE events;

--bun:split

ALTER TABLE deliveries RENAME TO events;

--bun:split

CREATE UNIQUE INDEX events_idempotency_key_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;

--bun:split

ALTER TABLE events RENAME CONSTRAINT deliveries_pkey TO events_pkey;

--bun:split

ALTER TABLE events RENAME CONSTRAINT deliveries_status_check TO events_status_check;

--bun:split

ALTER TABLE events RENAME CONSTRAINT deliveries_attempted_count_check TO events_attempted_count_check;

--bun:split

ALTER TABLE events RENAME CONSTRAINT deliveries_lease_check TO events_lease_check;

--bun:split

ALTER INDEX deliveries_pending_due_idx RENAME TO events_pending_due_idx;

--bun:split

ALTER INDEX deliveries_lease_expiry_idx RENAME TO events_lease_expiry_idx;

--bun:split

ALTER INDEX deliveries_pending_origin_idx RENAME TO events_pending_origin_idx;

--bun:split

ALTER INDEX deliveries_created_idx RENAME TO events_created_idx;

--bun:split

ALTER INDEX deliveries_finished_created_idx RENAME TO events_finished_created_idx;

--bun:split

ALTER INDEX deliveries_pending_created_idx RENAME TO events_pending_created_idx;

--bun:split

ALTER TRIGGER deliveries_notify_inserted ON events RENAME TO events_notify_inserted;

--bun:split

ALTER FUNCTION deliveries_notify_inserted() RENAME TO events_notify_inserted;
