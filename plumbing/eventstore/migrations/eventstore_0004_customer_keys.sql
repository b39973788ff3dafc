-- depends: eventstore_0003_immutable_events
-- Crypto-shredding: one data key per customer, wrapped by the master key (HUB_MASTER_KEY), that seals
-- the personal fields of the customer's events before they are inserted (so the hash chain covers the
-- ciphertext). Forgetting a customer destroys the key: wrapped_key becomes NULL and destroyed_at says
-- when. The row stays, so anything appended for that customer later is written already erased.
CREATE TABLE IF NOT EXISTS customer_keys (
    key_id        uuid PRIMARY KEY,
    customer_id   uuid NOT NULL UNIQUE,
    wrapped_key   bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    destroyed_at  timestamptz,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);
