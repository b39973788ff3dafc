-- depends: eventstore_0004_customer_keys
-- A forget overwrites a customer's wrapped key with NULL; the old row version keeps the wrapped key until
-- vacuumed. The forget vacuums when it runs as the owner, but PostgreSQL 15 lets only a table's owner
-- vacuum it, and the API's runtime role is not the owner: so autovacuum takes any dead row of this table
-- at its next round (autovacuum_naptime, a minute by default) instead of waiting for 50 of them.
ALTER TABLE customer_keys SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
