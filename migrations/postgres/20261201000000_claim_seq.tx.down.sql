ALTER TABLE events DROP COLUMN claim_seq;
