-- depends: analytics_0001_facts
-- The customer a task was created for (TaskCreated.customer_id), kept when a merge moves the task to the
-- survivor, so an unmerge can move it back, as origin_id does for touches, sales and deals. Rows written
-- before this column existed have none until the projection is rebuilt.

ALTER TABLE analytics_tasks ADD COLUMN IF NOT EXISTS origin_id uuid;
