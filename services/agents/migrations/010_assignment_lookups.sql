-- When each agent was last given a task (assignment picks the least recently given first),
-- kept on the agent: reading it off the tasks scanned every task the agent ever had.
ALTER TABLE agents ADD COLUMN last_assigned_at timestamptz;
UPDATE agents a SET last_assigned_at = (
    SELECT max(t.updated_at) FROM tasks t WHERE t.assigned_agent_id = a.id
);
-- Open tasks by campaign: a campaign's end cancels them, and the worker's sweep for tasks of
-- ended campaigns reads only these, not the whole history.
CREATE INDEX tasks_open_by_campaign ON tasks (campaign_id)
    WHERE status IN ('pending', 'assigned', 'in_progress');
