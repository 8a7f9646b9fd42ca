-- The wake-up NOTIFY leaves the inserting transaction. A transaction that
-- notifies holds a cluster-wide lock from its commit's start until its end,
-- WAL flush included (PostgreSQL 15), so no two inserting commits could
-- share a flush. adapters/postgres now commits the insert alone and then
-- notifies in a transaction of its own that does not wait for its flush.
DROP TRIGGER deliveries_notify_inserted ON deliveries;

--bun:split

DROP FUNCTION deliveries_notify_inserted();
