DROP TABLE delivery_attempts;

--bun:split

DROP TABLE events;

--bun:split

DROP FUNCTION events_notify_inserted();
