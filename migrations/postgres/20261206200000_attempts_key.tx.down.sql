CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);

--bun:split

ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey;

--bun:split

ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_pkey PRIMARY KEY (id);
