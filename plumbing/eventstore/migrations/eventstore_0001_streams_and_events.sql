-- The event store: one row per event, streams with their current version.
CREATE TABLE IF NOT EXISTS streams (
    stream_id   text PRIMARY KEY,
    version     bigint NOT NULL CHECK (version >= 0)
);

CREATE TABLE IF NOT EXISTS events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    stream_id       text NOT NULL REFERENCES streams (stream_id),
    stream_version  bigint NOT NULL CHECK (stream_version >= 0),
    event_type      text NOT NULL,
    schema_version  integer NOT NULL CHECK (schema_version >= 1),
    data            jsonb NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, stream_version)
);
