-- depends: pipeline_0003_autoclose
-- The purchase rule's view of merges: which customer each merged customer now speaks through (an
-- undone merge deletes its row). A purchase on a customer considers the open deals of every customer
-- merged into it, directly or through a chain, whenever the deal was opened (before or after the merge),
-- so autoclose_candidates.customer_id stays the customer a deal was opened for.
CREATE TABLE IF NOT EXISTS autoclose_merges (
    absorbed_id  uuid PRIMARY KEY,
    survivor_id  uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS autoclose_merges_survivor ON autoclose_merges (survivor_id);

-- Merges the rule has already followed (up to its checkpoint): the last merge or unmerge of each
-- absorbed customer decides. Later ones reach the rule through the log as usual.
-- (Skipped where this database holds no event store.)
DO $$
BEGIN
    IF to_regclass('events') IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO autoclose_merges (absorbed_id, survivor_id)
    SELECT absorbed_id, survivor_id FROM (
        SELECT DISTINCT ON (absorbed_id) absorbed_id, survivor_id, event_type
          FROM (
            SELECT (data->>'absorbed_id')::uuid AS absorbed_id, (data->>'customer_id')::uuid AS survivor_id,
                   event_type, position
              FROM events WHERE event_type = 'customer.absorbed'
            UNION ALL
            SELECT (data->>'restored_id')::uuid, (data->>'customer_id')::uuid, event_type, position
              FROM events WHERE event_type = 'customer.unmerged'
          ) AS changes
         WHERE position <= coalesce(
            (SELECT position FROM projection_checkpoints WHERE name = 'deal_autoclose'), 0)
         ORDER BY absorbed_id, position DESC
    ) AS latest
    WHERE event_type = 'customer.absorbed'
    ON CONFLICT (absorbed_id) DO NOTHING;
END
$$;
