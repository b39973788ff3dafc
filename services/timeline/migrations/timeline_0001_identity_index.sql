-- depends: eventstore_0001_streams_and_events
-- Write-side identity index: which customer a normalised identity belongs to.
-- Rebuildable from the customer.identity.linked events; written in the same transaction as them.
CREATE TABLE IF NOT EXISTS identity_index (
    identity_key       text PRIMARY KEY,
    customer_id        uuid NOT NULL,
    evidence_event_id  uuid NOT NULL,
    linked_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS identity_index_customer ON identity_index (customer_id);
