-- active_since: when the current run of attempts began (insert or replay);
-- MAX_DELIVERY_AGE_MS counts from it. A constant-per-statement default
-- makes this instant on a big table (no rewrite), starts the clock of the
-- events already queued at the upgrade, and keeps inserts of dispatchers
-- still on the previous version working during a rolling deploy.
ALTER TABLE events ADD COLUMN active_since timestamptz NOT NULL DEFAULT now();
