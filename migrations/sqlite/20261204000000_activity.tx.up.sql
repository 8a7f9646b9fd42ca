-- What the dispatcher did, minute by minute (ports.ActivityStore): events
-- accepted and attempts by outcome, in all (endpoint_id '', the cluster's
-- row) and per endpoint, for the dashboard's activity chart and
-- endpoints' success rates, as in migrations/postgres. core/activity adds
-- its counts every few seconds and purges the minutes older than a day.
-- minute is INTEGER unix microseconds, UTC, as everywhere here: the
-- minute's start.
--
-- The key leads with endpoint_id: both reads are one range of it, an hour
-- of the rows in all or of each endpoint asked for. WITHOUT ROWID keeps
-- the rows themselves in key order, so that range is a few adjacent pages.
-- The purge, by minute alone, has an index of its own.
CREATE TABLE activity (
    minute      INTEGER NOT NULL,
    endpoint_id TEXT NOT NULL DEFAULT '',
    accepted    INTEGER NOT NULL DEFAULT 0,
    delivered   INTEGER NOT NULL DEFAULT 0,
    retried     INTEGER NOT NULL DEFAULT 0,
    dead        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_id, minute)
) STRICT, WITHOUT ROWID;

--bun:split

CREATE INDEX activity_minute_idx ON activity (minute);
