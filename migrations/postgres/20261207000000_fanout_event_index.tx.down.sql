CREATE INDEX deliveries_event_idx ON deliveries (event_id, id);

--bun:split

DROP INDEX deliveries_fanout_event_idx;

--bun:split

-- Fails if a delivery's event is gone (none is, unless written by hand).
ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE;
