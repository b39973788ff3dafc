-- Idempotency keys of sales commands: a key's answer is stored in the transaction that appended the
-- command's events, so it exists exactly when they do. status and answer are NULL only inside that
-- transaction (never visible to anyone else).
CREATE TABLE IF NOT EXISTS sales_command_keys (
    principal_id     text NOT NULL,
    idempotency_key  text NOT NULL,
    request_hash     text NOT NULL,
    status           integer,
    answer           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, idempotency_key)
);
