CREATE INDEX deliveries_created_idx ON deliveries (created_at DESC, id DESC);

--bun:split

CREATE INDEX deliveries_pending_created_idx ON deliveries (created_at DESC, id DESC) WHERE status = 'pending';
