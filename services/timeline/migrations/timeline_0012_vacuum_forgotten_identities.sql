-- depends: timeline_0011_transaction_references
-- Rows a forget deletes stay in old row versions until vacuumed; only the owner may VACUUM, and the API's
-- runtime role is not the owner (see eventstore_0005): autovacuum takes any dead row at its next round.
ALTER TABLE identity_index SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
ALTER TABLE transaction_references SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
