-- Segments analysts save through the API (POST /v1/analytics/segments), next to those of
-- deploy/analytics.toml. The API owns this table (its own migrations folder, applied when it starts), not
-- the analytics projection: a definition is staff input, not a fact a rebuild could recreate from the log.
-- No `depends`: nothing else here is needed, and the projections' migrations are not loaded by the API.
CREATE TABLE IF NOT EXISTS analytics_saved_segments (
    segment_id   text PRIMARY KEY CHECK (segment_id ~ '^[a-z][a-z0-9_]{0,63}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '',
    filter       text NOT NULL CHECK (length(filter) BETWEEN 1 AND 1000),
    saved_by     text NOT NULL,
    saved_at     timestamptz NOT NULL
);
