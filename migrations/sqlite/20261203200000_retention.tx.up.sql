-- Retention finds what to delete from the finished deliveries old enough
-- for their status: by (status, updated_at), when they finished, as in
-- migrations/postgres. The listing index (status, created_at) cannot bound
-- that: a delivery retried for days is created long before it finishes.
-- Pending and delivering rows are left out, so claims never write it.
CREATE INDEX deliveries_finished_updated_idx ON deliveries (status, updated_at)
    WHERE status IN ('succeeded', 'dead');
