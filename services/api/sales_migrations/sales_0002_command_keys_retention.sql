-- depends: sales_0001_command_keys
-- Idempotency keys expire (HUB_IDEMPOTENCY_KEY_TTL_S): commands purge expired keys oldest first.
CREATE INDEX IF NOT EXISTS sales_command_keys_created ON sales_command_keys (created_at);
