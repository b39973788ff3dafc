-- depends: timeline_0002_shared_identities
-- Transaction references (external:shopify_order:<id>, external:square_payment:<id>: contracts/identity.py,
-- TRANSACTION_REFERENCES) get a table of their own. A buyer gains one per order, so in identity_index they
-- made the heaviest customer's identities grow with history, and the writer loaded them all whenever it
-- checked a per-customer limit. Here they are found by the reference only (a refund names its order), and
-- a customer's person identities (identity_index) stay a handful whatever the customer bought.
-- Same columns and the same key as identity_index, so an identity module reads both alike.
CREATE TABLE IF NOT EXISTS transaction_references (
    reference_key      text NOT NULL,
    customer_id        uuid NOT NULL,
    evidence_event_id  uuid NOT NULL,
    linked_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reference_key, customer_id)
);
-- merges and erasure move or remove a customer's references
CREATE INDEX IF NOT EXISTS transaction_references_customer ON transaction_references (customer_id);

-- An existing store: its references move over, as they were (customer, evidence, time).
INSERT INTO transaction_references (reference_key, customer_id, evidence_event_id, linked_at)
    SELECT identity_key, customer_id, evidence_event_id, linked_at FROM identity_index
    WHERE identity_key LIKE 'external:shopify\_order:%' OR identity_key LIKE 'external:square\_payment:%'
    ON CONFLICT DO NOTHING;
DELETE FROM identity_index
    WHERE identity_key LIKE 'external:shopify\_order:%' OR identity_key LIKE 'external:square\_payment:%';
