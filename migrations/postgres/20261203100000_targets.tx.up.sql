-- Open targets' shared breaker state (core.TargetHealth). A worker's
-- breaker (per process) sees only its own requests; this row is what every
-- dispatcher sees: while it exists the target's deliveries stay parked, and
-- one claim in the whole cluster at a time takes its probe, so an outage
-- costs one request per open interval, not one per dispatcher.
--
-- One row per OPEN target only: a successful probe deletes it (so does a
-- claim that finds nothing left to probe), so the table is as large as the
-- current outage, never as the history. That is also why it has no index
-- but its primary key: a claim reads it whole (a few pages at most), in
-- primary key order, and an index on open_until or probe_until would only
-- turn its frequent updates into non-HOT ones.
--
-- The parked deliveries are written when they are parked (Release, a
-- failed probe) and when they are released (a successful probe unparks
-- them, or their park ends), never once per open interval: between the two,
-- each interval writes this row and the probe's delivery, nothing else.
CREATE TABLE targets (
    origin      text PRIMARY KEY,
    -- No probe before this.
    open_until  timestamptz NOT NULL,
    -- The lease of the probe in flight, NULL when none: once it passes,
    -- the probe's worker is taken as lost and the target is probed again.
    probe_until timestamptz NULL,
    opened_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

--bun:split

-- A probe is its target's oldest pending delivery by (next_attempt_at, id),
-- parked or not (core.Delivery.ClaimProbe). The pending-origin index gains
-- id, so that a claim finds it with one index descent: on (origin,
-- next_attempt_at) alone the planner may instead walk the due index from
-- its start, past every pending delivery of every other target, since a
-- parked target's deliveries are the last there. Parking and unparking
-- (origin, next_attempt_at range) read the new index as they read the old.
-- Building it blocks writes to deliveries while it scans the table: migrate
-- in a quiet hour.
CREATE INDEX deliveries_pending_origin_id_idx ON deliveries (origin, next_attempt_at, id) WHERE status = 'pending';

--bun:split

DROP INDEX deliveries_pending_origin_idx;

--bun:split

ALTER INDEX deliveries_pending_origin_id_idx RENAME TO deliveries_pending_origin_idx;
