-- Back to one queue row per event. What the old schema can hold comes back
-- exactly: each event to a target_url, with its one delivery (same id), its
-- state and its attempt history.
--
-- Limit: events routed to endpoints have no place in it (one row per event,
-- one target, signed with HMAC_SECRET rather than the endpoint's secret),
-- so they are dropped with their deliveries and attempts. Roll back before
-- any such event was accepted, or accept losing them.
--
-- Same order as the way up, for the same reason (foreign keys are enforced
-- here): rename the new tables away, fill the old ones parents first, drop
-- the new ones children first, then recreate the indexes whose names the
-- new tables held.
ALTER TABLE endpoints DROP COLUMN failing_since;

--bun:split

ALTER TABLE events RENAME TO events_new;

--bun:split

ALTER TABLE deliveries RENAME TO deliveries_new;

--bun:split

ALTER TABLE delivery_attempts RENAME TO delivery_attempts_new;

--bun:split

CREATE TABLE events (
    id                TEXT PRIMARY KEY,
    target_url        TEXT NOT NULL,
    origin            TEXT NOT NULL,
    body              BLOB NOT NULL,
    idempotency_key   TEXT,
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivering', 'succeeded', 'dead')),
    attempted_count   INTEGER NOT NULL DEFAULT 0 CHECK (attempted_count >= 0),
    claim_seq         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    active_since      INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_attempted_at INTEGER,
    locked_by         TEXT,
    lease_expires_at  INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    CHECK ((status = 'delivering') = (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL))
) STRICT;

--bun:split

-- A target_url event's one delivery has the event's id.
INSERT INTO events (id, target_url, origin, body, idempotency_key, status, attempted_count, claim_seq,
                    next_attempt_at, active_since, created_at, updated_at, last_attempted_at, locked_by,
                    lease_expires_at, last_status_code, last_error)
SELECT e.id, d.target_url, d.origin, e.body, e.idempotency_key, d.status, d.attempted_count, d.claim_seq,
       d.next_attempt_at, d.active_since, d.created_at, d.updated_at, d.last_attempted_at, d.locked_by,
       d.lease_expires_at, d.last_status_code, d.last_error
FROM events_new e JOIN deliveries_new d ON d.id = e.id
WHERE e.target_url IS NOT NULL AND d.endpoint_id IS NULL;

--bun:split

CREATE TABLE delivery_attempts (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    number          INTEGER NOT NULL,
    worker          TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    duration_ms     REAL NOT NULL DEFAULT 0,
    status_code     INTEGER,
    error           TEXT,
    response        TEXT,
    verdict         TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL
) STRICT;

--bun:split

INSERT INTO delivery_attempts (id, event_id, number, worker, started_at, duration_ms, status_code, error,
                               response, verdict, reason, next_attempt_at, created_at)
SELECT id, delivery_id, number, worker, started_at, duration_ms, status_code, error,
       response, verdict, reason, next_attempt_at, created_at
FROM delivery_attempts_new WHERE delivery_id IN (SELECT id FROM events) ORDER BY id;

--bun:split

DROP TABLE delivery_attempts_new;

--bun:split

DROP TABLE deliveries_new;

--bun:split

DROP TABLE events_new;

--bun:split

CREATE INDEX events_pending_due_idx ON events (next_attempt_at, id) WHERE status = 'pending';

--bun:split

CREATE INDEX events_lease_expiry_idx ON events (lease_expires_at, id) WHERE status = 'delivering';

--bun:split

CREATE INDEX events_pending_origin_idx ON events (origin, next_attempt_at) WHERE status = 'pending';

--bun:split

CREATE UNIQUE INDEX events_idempotency_key_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;

--bun:split

CREATE INDEX events_created_idx ON events (created_at DESC, id DESC);

--bun:split

CREATE INDEX events_finished_created_idx ON events (status, created_at DESC, id DESC)
    WHERE status IN ('succeeded', 'dead');

--bun:split

CREATE INDEX events_pending_created_idx ON events (created_at DESC, id DESC) WHERE status = 'pending';

--bun:split

CREATE INDEX delivery_attempts_event_idx ON delivery_attempts (event_id, id);
