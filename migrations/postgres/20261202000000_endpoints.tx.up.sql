-- One row per merchant endpoint. Metadata is json, never jsonb: the object's
-- text comes back byte for byte (key order, big numbers), as it was given.
-- Secrets are sealed by core/secretbox before they get here: opaque bytes.
-- A rotated-out secret keeps signing until previous_secret_until; the two
-- are set and cleared together.
CREATE TABLE endpoints (
    id                    uuid PRIMARY KEY,
    url                   text NOT NULL,
    origin                text NOT NULL,
    event_types           text[] NOT NULL DEFAULT '{}',
    description           text NOT NULL DEFAULT '',
    rate_limit_per_second integer NOT NULL DEFAULT 0 CHECK (rate_limit_per_second >= 0),
    metadata              json,
    disabled              boolean NOT NULL DEFAULT false,
    disabled_reason       text NOT NULL DEFAULT '',
    secret                bytea NOT NULL,
    previous_secret       bytea,
    previous_secret_until timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    CONSTRAINT endpoints_previous_secret_check
        CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
);

--bun:split

-- Listing, newest first.
CREATE INDEX endpoints_created_idx ON endpoints (created_at DESC, id DESC);
