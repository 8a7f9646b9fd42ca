-- Open targets are forgotten: their parked deliveries come due at their
-- park's end (Delivery.ParkedUntil) and the breakers start over.
DROP TABLE targets;
