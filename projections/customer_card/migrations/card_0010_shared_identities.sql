-- depends: card_0002_timeline_direction
-- An identity may belong to several customers (a family phone the rules do not merge on), so the
-- lookup table is keyed by the pair. Re-folds after merges and unmerges delete timeline rows by event.
ALTER TABLE card_identities DROP CONSTRAINT IF EXISTS card_identities_pkey;
ALTER TABLE card_identities ADD PRIMARY KEY (identity_key, customer_id);
CREATE INDEX IF NOT EXISTS card_timeline_event ON card_timeline (event_id);
