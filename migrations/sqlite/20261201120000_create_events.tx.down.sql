DROP TABLE delivery_attempts;

--bun:split

DROP TABLE events;
