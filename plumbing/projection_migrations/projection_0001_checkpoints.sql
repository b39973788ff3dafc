-- One checkpoint per projection: the last global position its read model includes.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name        text PRIMARY KEY,
    position    bigint NOT NULL CHECK (position >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
