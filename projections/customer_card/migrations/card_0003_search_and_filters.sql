-- depends: card_0002_timeline_direction
-- Customer search by name, email or phone prefix: one row per search term of a card (folded names
-- and their words, emails, phone digits), matched by prefix through a text_pattern_ops index.
CREATE TABLE IF NOT EXISTS card_search (
    customer_id  uuid NOT NULL,
    term         text NOT NULL,
    PRIMARY KEY (customer_id, term)
);
CREATE INDEX IF NOT EXISTS card_search_term ON card_search (term text_pattern_ops, customer_id);

-- Timeline filters by channel and by event type, newest first.
CREATE INDEX IF NOT EXISTS card_timeline_channel ON card_timeline (customer_id, channel, position);
CREATE INDEX IF NOT EXISTS card_timeline_type ON card_timeline (customer_id, event_type, position);
