-- depends: analytics_0003_journeys
-- Per UTC day, customer, channel and source, how many touches there were: the channel report over whole
-- days reads these instead of every touch of its window (the projection recounts them from the touches
-- for the keys a batch wrote, and regroups them for the customers a merge or an unmerge moved).
-- A store written before this migration is filled here from its touches.

CREATE TABLE IF NOT EXISTS analytics_touch_days (
    day           date NOT NULL,  -- of occurred_at, in UTC
    customer_id   uuid NOT NULL,
    channel       text NOT NULL,
    source        text NOT NULL,
    interactions  integer NOT NULL CHECK (interactions > 0),
    PRIMARY KEY (day, customer_id, channel, source)
);
CREATE INDEX IF NOT EXISTS analytics_touch_days_customer ON analytics_touch_days (customer_id);

INSERT INTO analytics_touch_days (day, customer_id, channel, source, interactions)
SELECT (occurred_at AT TIME ZONE 'UTC')::date, customer_id, channel, source, count(*)
FROM analytics_touches GROUP BY 1, 2, 3, 4
ON CONFLICT (day, customer_id, channel, source) DO UPDATE SET interactions = excluded.interactions;
