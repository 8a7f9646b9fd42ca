-- Open targets are forgotten: their parked deliveries come due at their
-- park's end (core.Delivery.ParkedUntil) and the breakers start over.
DROP TABLE targets;

--bun:split

-- The pending-origin index as it was, on (origin, next_attempt_at).
CREATE INDEX deliveries_pending_origin_old_idx ON deliveries (origin, next_attempt_at) WHERE status = 'pending';

--bun:split

DROP INDEX deliveries_pending_origin_idx;

--bun:split

ALTER INDEX deliveries_pending_origin_old_idx RENAME TO deliveries_pending_origin_idx;
