-- Merchants' endpoints. As in events: ids are TEXT (UUIDv7 strings) and
-- every timestamp an INTEGER of unix microseconds, UTC. event_types is a
-- JSON array of strings ('[]': every type); metadata the JSON object bytes
-- exactly as given, NULL when none. Secrets are sealed bytes, opaque here.
CREATE TABLE endpoints (
    id                    TEXT PRIMARY KEY,
    url                   TEXT NOT NULL,
    origin                TEXT NOT NULL,
    event_types           TEXT NOT NULL DEFAULT '[]',
    description           TEXT NOT NULL DEFAULT '',
    rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
    metadata              TEXT,
    disabled              INTEGER NOT NULL DEFAULT 0,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    secret                BLOB NOT NULL,
    previous_secret       BLOB,
    previous_secret_until INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    -- A previous secret signs only until its grace ends: one never comes
    -- without the other.
    CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
) STRICT;

--bun:split

CREATE INDEX endpoints_created_idx ON endpoints (created_at DESC, id DESC);
