-- An event (what a producer posted, stored once) is split from its
-- deliveries (the queue rows, one per target). Every existing row becomes
-- an event with its id and one delivery with the same id, so that every
-- id handed out before keeps naming the same row (/events/:id/retry).
--
-- SQLite cannot change a table's columns or foreign keys in place, so the
-- old tables are renamed out of the way, the new ones created and filled,
-- and the old ones dropped. Foreign keys are enforced on the migrating
-- connection and cannot be turned off inside this transaction, so the
-- order keeps every constraint true at every step: parents are filled
-- before their children, and children dropped before their parents (with
-- foreign keys on, DROP TABLE deletes its rows first and would cascade
-- into a child still pointing at it). Renaming a table rewrites the
-- REFERENCES clauses that name it, so the old attempts keep pointing at
-- the old events until both are dropped.
ALTER TABLE events RENAME TO events_old;

--bun:split

ALTER TABLE delivery_attempts RENAME TO delivery_attempts_old;

--bun:split

-- What a producer posted. target_url and origin are set for an event to one
-- URL (the seed's way); endpoint_id when it names one endpoint; neither when
-- it goes to the endpoints subscribed to event_type ('' when none was
-- given). Routing is decided once, at insert: its deliveries are the result.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    event_type      TEXT NOT NULL DEFAULT '',
    target_url      TEXT,
    origin          TEXT,
    endpoint_id     TEXT,
    body            BLOB NOT NULL,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    CHECK ((target_url IS NULL) = (origin IS NULL))
) STRICT;

--bun:split

INSERT INTO events (id, event_type, target_url, origin, endpoint_id, body, idempotency_key, created_at)
SELECT id, '', target_url, origin, NULL, body, idempotency_key, created_at FROM events_old;

--bun:split

-- The queue: one row per event and target, with the old table's state
-- columns unchanged. The body stays in events (one copy however many
-- endpoints). endpoint_id has no foreign key: deleting an endpoint ends its
-- pending deliveries but keeps them, and their attempts, as history.
-- target_url and origin are the endpoint's at insert, moved when it moves:
-- origin is the unit of parking and per-target caps.
CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    event_id          TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id       TEXT,
    target_url        TEXT NOT NULL,
    origin            TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivering', 'succeeded', 'dead')),
    attempted_count   INTEGER NOT NULL DEFAULT 0 CHECK (attempted_count >= 0),
    claim_seq         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    -- When the current run of attempts began (insert or replay):
    -- MAX_DELIVERY_AGE_MS counts from it.
    active_since      INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_attempted_at INTEGER,
    locked_by         TEXT,
    lease_expires_at  INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    -- A delivering row always has an owner and a lease end, or it could
    -- never be reclaimed; no other row has either.
    CHECK ((status = 'delivering') = (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL))
) STRICT;

--bun:split

INSERT INTO deliveries (id, event_id, endpoint_id, target_url, origin, status, attempted_count, claim_seq,
                        next_attempt_at, active_since, created_at, updated_at, last_attempted_at, locked_by,
                        lease_expires_at, last_status_code, last_error)
SELECT id, id, NULL, target_url, origin, status, attempted_count, claim_seq,
       next_attempt_at, active_since, created_at, updated_at, last_attempted_at, locked_by,
       lease_expires_at, last_status_code, last_error
FROM events_old;

--bun:split

-- Append-only attempt history, now per delivery. id is the rowid:
-- ascending in insert order, and copied, so the history keeps its order.
CREATE TABLE delivery_attempts (
    id              INTEGER PRIMARY KEY,
    delivery_id     TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
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

INSERT INTO delivery_attempts (id, delivery_id, number, worker, started_at, duration_ms, status_code, error,
                               response, verdict, reason, next_attempt_at, created_at)
SELECT id, event_id, number, worker, started_at, duration_ms, status_code, error,
       response, verdict, reason, next_attempt_at, created_at
FROM delivery_attempts_old ORDER BY id;

--bun:split

-- Children first: nothing points at the old attempts, and once they are
-- gone nothing points at the old events. Their indexes go with them, which
-- frees the names reused below.
DROP TABLE delivery_attempts_old;

--bun:split

DROP TABLE events_old;

--bun:split

-- Claiming reads only due rows, in due order, through these partial
-- indexes, so its cost does not grow with finished history.
CREATE INDEX deliveries_pending_due_idx ON deliveries (next_attempt_at, id) WHERE status = 'pending';

--bun:split

CREATE INDEX deliveries_lease_expiry_idx ON deliveries (lease_expires_at, id) WHERE status = 'delivering';

--bun:split

-- Parking an origin pushes back its pending rows.
CREATE INDEX deliveries_pending_origin_idx ON deliveries (origin, next_attempt_at) WHERE status = 'pending';

--bun:split

CREATE INDEX deliveries_created_idx ON deliveries (created_at DESC, id DESC);

--bun:split

CREATE INDEX deliveries_finished_created_idx ON deliveries (status, created_at DESC, id DESC)
    WHERE status IN ('succeeded', 'dead');

--bun:split

CREATE INDEX deliveries_pending_created_idx ON deliveries (created_at DESC, id DESC) WHERE status = 'pending';

--bun:split

-- An event's deliveries, oldest first (reading an event, listing a page).
CREATE INDEX deliveries_event_idx ON deliveries (event_id, id);

--bun:split

-- An endpoint's deliveries by status: ending or moving them when the
-- endpoint is disabled, moved or deleted, and listing by endpoint.
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, status) WHERE endpoint_id IS NOT NULL;

--bun:split

CREATE UNIQUE INDEX events_idempotency_key_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;

--bun:split

-- Listing, newest first, of every event or of one type.
CREATE INDEX events_created_idx ON events (created_at DESC, id DESC);

--bun:split

CREATE INDEX events_type_created_idx ON events (event_type, created_at DESC, id DESC);

--bun:split

CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);

--bun:split

-- failing_since: when the endpoint's current run of failed attempts began
-- (NULL after a success). ENDPOINT_DISABLE_AFTER_MS counts from it. It is
-- written only when the run starts or ends, never per attempt.
ALTER TABLE endpoints ADD COLUMN failing_since INTEGER;
