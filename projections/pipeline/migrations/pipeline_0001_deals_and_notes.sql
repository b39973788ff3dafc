-- depends: projection_0001_checkpoints
-- Read model of the pipeline projection: one row per deal (the whole view as jsonb, plus the columns
-- queries filter, group and page by), and the notes on customers and deals.
CREATE TABLE IF NOT EXISTS pipeline_deals (
    deal_id           uuid PRIMARY KEY,
    customer_id       uuid NOT NULL,
    pipeline_id       text NOT NULL,
    stage_id          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    owner_id          text NOT NULL,
    amount            numeric NOT NULL,  -- no fixed scale: sums keep the scale Decimal arithmetic gives
    currency          char(3) NOT NULL,
    opened_position   bigint NOT NULL UNIQUE,  -- the page key of deal listings
    stage_entered_at  timestamptz NOT NULL,
    closed_at         timestamptz,
    last_position     bigint NOT NULL,
    deal              jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS pipeline_deals_stage ON pipeline_deals (pipeline_id, status, stage_id);
CREATE INDEX IF NOT EXISTS pipeline_deals_closed ON pipeline_deals (pipeline_id, status, closed_at);
CREATE INDEX IF NOT EXISTS pipeline_deals_owner ON pipeline_deals (owner_id, opened_position);
CREATE INDEX IF NOT EXISTS pipeline_deals_customer ON pipeline_deals (customer_id, opened_position);

CREATE TABLE IF NOT EXISTS pipeline_notes (
    note_id      uuid PRIMARY KEY,
    customer_id  uuid NOT NULL,
    deal_id      uuid,
    actor        text NOT NULL,
    text         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    position     bigint NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS pipeline_notes_deal ON pipeline_notes (deal_id, position);
CREATE INDEX IF NOT EXISTS pipeline_notes_customer ON pipeline_notes (customer_id, position);
