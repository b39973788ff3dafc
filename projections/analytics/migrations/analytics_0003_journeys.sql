-- depends: analytics_0002_task_origin
-- What the channel report would otherwise recompute from every customer's whole history on each read,
-- kept by the projection so a report reads only its window:
-- * each customer's first touch (earliest by occurred_at, then position), for "new customers" and
--   first-touch attribution; kept through merges and unmerges (recomputed for the customers they move);
-- * on each sale, the first and the last touch of its customer strictly before it (NULL: none, the sale
--   counts for its own channel and source), recomputed when a late touch lands before the sale or a
--   merge or unmerge changes the customer's journey.
-- A store written before this migration is filled here from the fact rows (same rule as the projection).

CREATE TABLE IF NOT EXISTS analytics_first_touches (
    customer_id  uuid PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    position     bigint NOT NULL,
    channel      text NOT NULL,
    source       text NOT NULL
);
CREATE INDEX IF NOT EXISTS analytics_first_touches_time ON analytics_first_touches (occurred_at);

ALTER TABLE analytics_sales
    ADD COLUMN IF NOT EXISTS first_channel text,
    ADD COLUMN IF NOT EXISTS first_source  text,
    ADD COLUMN IF NOT EXISTS last_channel  text,
    ADD COLUMN IF NOT EXISTS last_source   text;

-- The last touch before an instant, per customer, is one index probe.
CREATE INDEX IF NOT EXISTS analytics_touches_journey ON analytics_touches (customer_id, occurred_at, position);
DROP INDEX IF EXISTS analytics_touches_customer;

INSERT INTO analytics_first_touches (customer_id, occurred_at, position, channel, source)
SELECT DISTINCT ON (customer_id) customer_id, occurred_at, position, channel, source
FROM analytics_touches ORDER BY customer_id, occurred_at, position
ON CONFLICT (customer_id) DO NOTHING;

UPDATE analytics_sales s SET
    first_channel = CASE WHEN (f.occurred_at, f.position) < (s.occurred_at, s.position) THEN f.channel END,
    first_source = CASE WHEN (f.occurred_at, f.position) < (s.occurred_at, s.position) THEN f.source END,
    last_channel = l.channel,
    last_source = l.source
FROM analytics_sales x
LEFT JOIN analytics_first_touches f ON f.customer_id = x.customer_id
LEFT JOIN LATERAL (
    SELECT t.channel, t.source FROM analytics_touches t
    WHERE t.customer_id = x.customer_id AND (t.occurred_at, t.position) < (x.occurred_at, x.position)
    ORDER BY t.occurred_at DESC, t.position DESC LIMIT 1
) l ON TRUE
WHERE s.position = x.position;
