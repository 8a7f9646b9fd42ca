-- Open targets' shared breaker state (core.TargetHealth). A worker's
-- breaker sees only its own requests; this row is what every worker sees:
-- while it exists the target's deliveries stay parked and one claim at a
-- time takes its probe. It lives in the file, not in memory, so that it
-- outlives a restart: deliveries parked until their target's probe would
-- otherwise wait out their whole park.
--
-- One row per open target only: a successful probe deletes it (so does a
-- claim that finds nothing left to probe), so the table is as large as the
-- current outage, never as the history. That is why it has no index but
-- its primary key: a claim reads it in primary key order. Times are
-- INTEGER unix microseconds, UTC, as everywhere here.
CREATE TABLE targets (
    origin      TEXT PRIMARY KEY,
    -- No probe before this.
    open_until  INTEGER NOT NULL,
    -- The lease of the probe in flight, NULL when none: once it passes,
    -- the probe's worker is taken as lost and the target is probed again.
    probe_until INTEGER,
    opened_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
