-- Retention (core/retention, RETENTION_HOURS and DEAD_RETENTION_HOURS)
-- finds what to delete from the finished deliveries old enough for their
-- status: by (status, updated_at), when they finished. The listing index
-- (status, created_at) cannot bound that: a delivery retried for days
-- (up to MAX_DELIVERY_AGE_MS) is created long before it finishes, and
-- every purge would read again every such delivery that is created before
-- the cutoff but not yet finished before it. Pending and delivering rows
-- are left out, so claims never write this index; a delivery enters it
-- once, when it finishes (a replay takes it out). Building it blocks
-- writes to deliveries while it scans the table: migrate in a quiet hour.
CREATE INDEX deliveries_finished_updated_idx ON deliveries (status, updated_at)
    WHERE status IN ('succeeded', 'dead');
