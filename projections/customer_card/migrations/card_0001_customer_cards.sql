-- depends: projection_0001_checkpoints
-- Read models of the customer card projection.
CREATE TABLE IF NOT EXISTS customer_cards (
    customer_id    uuid PRIMARY KEY,
    card           jsonb NOT NULL,
    last_position  bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Lookup of a card by any of its identities ("kind:value" / "kind:provider:value").
CREATE TABLE IF NOT EXISTS card_identities (
    identity_key  text PRIMARY KEY,
    customer_id   uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS card_identities_customer ON card_identities (customer_id);

-- Every interaction of a customer, newest first by position, for the timeline API.
CREATE TABLE IF NOT EXISTS card_timeline (
    customer_id  uuid NOT NULL,
    position     bigint NOT NULL,
    event_id     uuid NOT NULL,
    event_type   text NOT NULL,
    channel      text NOT NULL,
    provider     text NOT NULL,
    summary      text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, position)
);
