-- The SQLite schema mirrors migrations/postgres table for table, column for
-- column and index for index. Types differ: ids are TEXT (UUIDv7 strings),
-- bodies BLOB (the exact bytes delivered and signed), and every timestamp is
-- an INTEGER of unix microseconds, UTC (PostgreSQL's resolution; integers
-- compare and sort correctly, which text timestamps of varying precision do
-- not). STRICT makes SQLite refuse a value of the wrong type.
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

-- Claiming reads only due rows, in due order, through these partial
-- indexes, so its cost does not grow with finished history.
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

-- Append-only attempt history. id is the rowid: ascending in insert order.
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

CREATE INDEX delivery_attempts_event_idx ON delivery_attempts (event_id, id);
