CREATE INDEX deliveries_finished_created_idx ON deliveries (status, created_at DESC, id DESC)
    WHERE status IN ('succeeded', 'dead');

--bun:split

DROP INDEX deliveries_dead_created_idx;
