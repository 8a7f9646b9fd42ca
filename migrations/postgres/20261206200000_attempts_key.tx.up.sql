-- An attempt is only ever read with its delivery's others, in order:
-- (delivery_id, id). Its own id needed no index of its own; that index
-- was one more entry written for every attempt recorded. The primary key
-- is now (delivery_id, id), the index every read uses, and the two
-- indexes are one. Building it reads the table and blocks writes to it
-- while it does: migrate in a quiet hour.
CREATE UNIQUE INDEX delivery_attempts_delivery_key ON delivery_attempts (delivery_id, id);

--bun:split

ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey;

--bun:split

ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_pkey PRIMARY KEY USING INDEX delivery_attempts_delivery_key;

--bun:split

DROP INDEX delivery_attempts_delivery_idx;
