-- What the cluster did, minute by minute (ports.ActivityStore): events
-- accepted and attempts by outcome, for the whole cluster (endpoint_id '')
-- and per endpoint, for the dashboard's activity chart and endpoints'
-- success rates. Every dispatcher adds its own counts every few seconds
-- (core/activity), one upsert per minute and endpoint it saw, and purges
-- the minutes older than a day (ports.ActivityRetention): the table holds
-- a day of rows, 1,440 per endpoint active every minute, at most.
--
-- endpoint_id is text, not a uuid referencing endpoints: '' stands for the
-- cluster (a primary key column cannot be NULL), and an endpoint's counts
-- outlive its deletion until they age out.
--
-- The key leads with endpoint_id: both reads are one range of it, an hour
-- of the cluster's rows (endpoint_id = '') or of each endpoint asked for,
-- whatever the number of endpoints. Led by minute, the cluster's hour
-- would read every endpoint's rows of that hour too. The purge, by minute
-- alone, has an index of its own; it is the only write it costs (an upsert
-- never changes minute). The fill factor leaves room on each page for the
-- dozen updates a row of the current minute gets from each dispatcher, so
-- that they stay HOT.
CREATE TABLE activity (
    minute      timestamptz NOT NULL,
    endpoint_id text NOT NULL DEFAULT '',
    accepted    bigint NOT NULL DEFAULT 0,
    delivered   bigint NOT NULL DEFAULT 0,
    retried     bigint NOT NULL DEFAULT 0,
    dead        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_id, minute)
) WITH (fillfactor = 70);

--bun:split

CREATE INDEX activity_minute_idx ON activity (minute);
