-- depends: pipeline_0001_deals_and_notes
-- The purchase rule's own state, kept in the transaction that advances its checkpoint: which deals
-- each customer has open. (Whether a deal is still open when a purchase comes is read from its stream.)
CREATE TABLE IF NOT EXISTS autoclose_candidates (
    deal_id          uuid PRIMARY KEY,
    customer_id      uuid NOT NULL,
    pipeline_id      text NOT NULL,
    currency         char(3) NOT NULL,
    amount           numeric NOT NULL,
    opened_position  bigint NOT NULL,
    open             boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS autoclose_candidates_customer ON autoclose_candidates (customer_id) WHERE open;
