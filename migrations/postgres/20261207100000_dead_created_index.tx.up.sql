-- Recovery (POST /events/recover) walks finished deliveries oldest first by
-- creation. Every outcome wrote an entry into that walk's index, but only
-- dead deliveries need it: they are the few that recovery is for (and its
-- default). Succeeded ones are most of the history: recovering them walks
-- their events by creation (events_created_idx) and reads each event's
-- deliveries by key (adapters/postgres/list.go), as densely. A succeeded
-- outcome now writes one index entry less. Building the index blocks
-- writes to deliveries while it scans the table: migrate in a quiet hour.
CREATE INDEX deliveries_dead_created_idx ON deliveries (created_at, id) WHERE status = 'dead';

--bun:split

DROP INDEX deliveries_finished_created_idx;
