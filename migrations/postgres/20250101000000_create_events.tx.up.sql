-- One row per event: the queue itself. Body is bytea, never json/jsonb: it
-- holds the exact bytes delivered and signed on every attempt, and jsonb would
-- reorder keys and round big numbers.
CREATE TABLE events (
    id                uuid PRIMARY KEY,
    target_url        text NOT NULL,
    origin            text NOT NULL,
    body              bytea NOT NULL,
    idempotency_key   text,
    status            text NOT NULL DEFAULT 'pending'
                      CONSTRAINT events_status_check
                      CHECK (status IN ('pending', 'delivering', 'succeeded', 'dead')),
    attempted_count   integer NOT NULL DEFAULT 0 CHECK (attempted_count >= 0),
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_attempted_at timestamptz,
    locked_by         text,
    lease_expires_at  timestamptz,
    last_status_code  integer,
    last_error        text,
    -- A delivering row always has an owner and a lease end, or it could
    -- never be reclaimed; no other row has either.
    CONSTRAINT events_lease_check
        CHECK ((status = 'delivering') = (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL))
);

--bun:split

-- Claiming reads only due rows, in due order, through these partial
-- indexes; succeeded and dead rows (the bulk of the table) are in neither,
-- so claim cost does not grow with history. id breaks ties (UUIDv7, so
-- creation order) for events parked to the same instant.
CREATE INDEX events_pending_due_idx ON events (next_attempt_at, id) WHERE status = 'pending';

--bun:split

CREATE INDEX events_lease_expiry_idx ON events (lease_expires_at, id) WHERE status = 'delivering';

--bun:split

-- Parking: every pending event of one origin due before some instant.
CREATE INDEX events_pending_origin_idx ON events (origin, next_attempt_at) WHERE status = 'pending';

--bun:split

CREATE UNIQUE INDEX events_idempotency_key_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;

--bun:split

-- Listing, newest first: all, finished by status, and pending. Delivering
-- rows are few; listing them sorts what events_lease_expiry_idx finds.
-- The status index leaves pending and delivering rows out on purpose: were
-- it to cover them, the planner could claim through it (status = 'pending',
-- then sort every due row) whenever its statistics underestimate the
-- backlog, i.e. right after an outage. Without it, the partial due-order
-- indexes above are the only cheap paths to claimable rows.
CREATE INDEX events_created_idx ON events (created_at DESC, id DESC);

--bun:split

CREATE INDEX events_finished_created_idx ON events (status, created_at DESC, id DESC)
    WHERE status IN ('succeeded', 'dead');

--bun:split

CREATE INDEX events_pending_created_idx ON events (created_at DESC, id DESC) WHERE status = 'pending';

--bun:split

-- Append-only attempt history.
CREATE TABLE delivery_attempts (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    number          integer NOT NULL,
    worker          text NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     double precision NOT NULL DEFAULT 0,
    status_code     integer,
    error           text,
    response        text,
    verdict         text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

--bun:split

CREATE INDEX delivery_attempts_event_idx ON delivery_attempts (event_id, id);

--bun:split

-- Wake-up: every INSERT statement that stores at least one event notifies
-- the channel of the table's schema, within the inserting transaction (so
-- delivered only on commit). adapters/postgres listens on the same name
-- ("webhookd:" || schema); one channel per schema keeps parallel test
-- schemas and co-hosted deployments from waking each other.
CREATE FUNCTION events_notify_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('webhookd:' || TG_TABLE_SCHEMA, '');
    END IF;
    RETURN NULL;
END
$$;

--bun:split

CREATE TRIGGER events_notify_inserted
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_inserted();
