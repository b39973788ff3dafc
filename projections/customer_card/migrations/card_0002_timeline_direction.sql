-- depends: card_0001_customer_cards
-- Which way each timeline interaction went: from the customer (inbound) or from the business.
ALTER TABLE card_timeline ADD COLUMN direction text NOT NULL DEFAULT 'inbound'
    CHECK (direction IN ('inbound', 'outbound'));
