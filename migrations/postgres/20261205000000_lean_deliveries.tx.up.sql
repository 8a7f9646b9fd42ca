-- Two indexes of deliveries that no statement reads any more: since the
-- events/deliveries split, listing walks events (events_created_idx) and
-- reaches deliveries through deliveries_event_idx; a recovery walks the
-- finished ones (deliveries_finished_created_idx); the queue's counts read
-- the claim's partial indexes. Each was written for every delivery
-- inserted, and the first for every claim and every outcome too (neither
-- update is HOT: the status moves the row between partial indexes).
DROP INDEX deliveries_created_idx;

--bun:split

DROP INDEX deliveries_pending_created_idx;
