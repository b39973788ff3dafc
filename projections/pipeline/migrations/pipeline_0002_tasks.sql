-- depends: pipeline_0001_deals_and_notes
-- Sales-support tasks: the whole view as jsonb, plus the columns queues filter and page by.
CREATE TABLE IF NOT EXISTS pipeline_tasks (
    task_id           uuid PRIMARY KEY,
    customer_id       uuid,
    deal_id           uuid,
    assignee          text,
    team              text,
    status            text NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
    due_at            timestamptz NOT NULL,
    created_position  bigint NOT NULL UNIQUE,  -- the page key of task listings
    last_position     bigint NOT NULL,
    task              jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS pipeline_tasks_assignee ON pipeline_tasks (assignee, status, created_position);
CREATE INDEX IF NOT EXISTS pipeline_tasks_due ON pipeline_tasks (status, due_at);
CREATE INDEX IF NOT EXISTS pipeline_tasks_customer ON pipeline_tasks (customer_id, created_position);
CREATE INDEX IF NOT EXISTS pipeline_tasks_deal ON pipeline_tasks (deal_id, created_position);
