-- claim_seq counts every claim an event ever had and is never reset (not by
-- a release, a refund or a replay), so (locked_by, claim_seq) names one claim
-- for good. It guards completions and releases: the attempt number could
-- repeat after a replay, letting a late outcome from before the replay
-- complete the replayed delivery. A constant default makes this instant.
ALTER TABLE events ADD COLUMN claim_seq bigint NOT NULL DEFAULT 0;
