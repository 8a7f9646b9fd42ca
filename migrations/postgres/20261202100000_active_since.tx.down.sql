ALTER TABLE events DROP COLUMN active_since;
