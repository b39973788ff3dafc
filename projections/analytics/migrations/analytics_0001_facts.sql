-- depends: projection_0001_checkpoints
-- Read model of the analytics projection: one row per fact the reports count (an interaction, a sale,
-- a deal, a task, a reply to a customer), with the columns reports filter and group by. Reports are
-- computed from these when read, so a changed period or grouping needs no rebuild.
-- customer_id is the customer a row counts for now (merges move rows to the survivor); origin_id the
-- customer whose stream held the event when it was recorded (an unmerge moves rows back by it).

CREATE TABLE IF NOT EXISTS analytics_touches (
    position     bigint PRIMARY KEY,
    event_id     uuid NOT NULL,
    customer_id  uuid NOT NULL,
    origin_id    uuid NOT NULL,
    occurred_at  timestamptz NOT NULL,
    channel      text NOT NULL,
    source       text NOT NULL,
    direction    text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    agent        text,
    event_type   text NOT NULL
);
CREATE INDEX IF NOT EXISTS analytics_touches_customer ON analytics_touches (customer_id, occurred_at);
CREATE INDEX IF NOT EXISTS analytics_touches_time ON analytics_touches (occurred_at);

CREATE TABLE IF NOT EXISTS analytics_sales (
    position     bigint PRIMARY KEY,
    event_id     uuid NOT NULL,
    customer_id  uuid NOT NULL,
    origin_id    uuid NOT NULL,
    occurred_at  timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('purchase', 'refund')),
    order_id     text NOT NULL,
    channel      text NOT NULL,
    source       text NOT NULL,
    currency     char(3) NOT NULL,
    amount       numeric NOT NULL CHECK (amount >= 0),  -- refunds are positive; reports subtract them
    discounted   boolean NOT NULL,
    items        text[] NOT NULL,                       -- sku, else the line's name
    item_names   jsonb NOT NULL                         -- item -> the name the till gave it
);
CREATE INDEX IF NOT EXISTS analytics_sales_customer ON analytics_sales (customer_id, occurred_at);
CREATE INDEX IF NOT EXISTS analytics_sales_time ON analytics_sales (occurred_at);

CREATE TABLE IF NOT EXISTS analytics_deals (
    deal_id           uuid PRIMARY KEY,
    customer_id       uuid NOT NULL,
    origin_id         uuid NOT NULL,
    pipeline_id       text NOT NULL,
    owner_id          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    opened_at         timestamptz NOT NULL,
    closed_at         timestamptz,
    amount            numeric NOT NULL,
    currency          char(3) NOT NULL,
    source_channel    text,
    source_campaign   text,
    stage_id          text NOT NULL,
    stage_entered_at  timestamptz NOT NULL,
    visits            jsonb NOT NULL,  -- [{stage_id, entered_at, left_at}] oldest first
    open_position     bigint NOT NULL,
    last_position     bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS analytics_deals_customer ON analytics_deals (customer_id);

CREATE TABLE IF NOT EXISTS analytics_tasks (
    task_id        uuid PRIMARY KEY,
    customer_id    uuid,
    deal_id        uuid,
    assignee       text,
    team           text,
    created_at     timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
    closed_at      timestamptz,
    last_position  bigint NOT NULL
);

-- A conversation per customer and channel: since when a customer waits for an answer.
CREATE TABLE IF NOT EXISTS analytics_threads (
    customer_id    uuid NOT NULL,
    channel        text NOT NULL,
    pending_since  timestamptz,
    last_at        timestamptz NOT NULL,
    replied        boolean NOT NULL,
    PRIMARY KEY (customer_id, channel)
);

-- Every reply of the business to a waiting customer, with how long the customer waited.
CREATE TABLE IF NOT EXISTS analytics_responses (
    position        bigint PRIMARY KEY,  -- of the reply
    customer_id     uuid NOT NULL,
    channel         text NOT NULL,
    agent           text,
    inbound_at      timestamptz NOT NULL,
    replied_at      timestamptz NOT NULL,
    seconds         double precision NOT NULL CHECK (seconds >= 0),
    first_response  boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS analytics_responses_time ON analytics_responses (replied_at);

-- Merged customers and who speaks for them now (chains resolved when written).
CREATE TABLE IF NOT EXISTS analytics_aliases (
    customer_id  uuid PRIMARY KEY,
    survivor_id  uuid NOT NULL
);

-- Per customer, the traits segments filter on, as versions: [valid_from, valid_to) in event time, so a
-- segment's size on any past day is a query, not a snapshot someone had to take.
CREATE TABLE IF NOT EXISTS analytics_traits (
    customer_id       uuid NOT NULL,
    version           integer NOT NULL,
    valid_from        timestamptz NOT NULL,
    valid_to          timestamptz,
    position          bigint NOT NULL,
    last_purchase_at  timestamptz,
    last_contact_at   timestamptz,
    purchase_count    integer NOT NULL,
    traits            jsonb NOT NULL,
    PRIMARY KEY (customer_id, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS analytics_traits_current ON analytics_traits (customer_id)
    WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS analytics_traits_span ON analytics_traits (valid_from, valid_to);
