-- No update of a delivery is HOT (its status moves it between partial
-- indexes), so every index of deliveries gets an entry at its claim and
-- another at its outcome. The delivery of an event posted with a
-- target_url has its event's id (core.DeliveryID), so the primary key
-- already finds it by event: only endpoint deliveries, whose ids are their
-- own, need an index by event. A claim and an outcome each write one index
-- entry less for the first kind; claiming and completing 100 rows ran
-- 7-11 % faster without the whole index (BenchmarkClaimAndComplete,
-- durable cluster, interleaved). Statements find an event's deliveries in
-- two parts, by key and by this index (adapters/postgres/eventsql.go).
--
-- The foreign key to events goes too: deleting an event made PostgreSQL
-- look for its deliveries by event_id alone, which only a whole index on
-- event_id serves, and inserting a delivery locked its event's row. A
-- delivery is inserted only by the statement that inserts its event
-- (groupinsert.go), and the one deleter of events, the purge
-- (retention.go), deletes their deliveries itself, as it does their
-- attempts (20261206000000). Building the index blocks writes to
-- deliveries while it scans the table: migrate in a quiet hour.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;

--bun:split

CREATE INDEX deliveries_fanout_event_idx ON deliveries (event_id, id) WHERE id <> event_id;

--bun:split

DROP INDEX deliveries_event_idx;
