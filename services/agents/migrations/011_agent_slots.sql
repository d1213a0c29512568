-- An agent's slots are held by the tasks it is working on: assigned, or in progress with no
-- message requested yet. Counting them reads only these, not the tasks waiting for results.
CREATE INDEX tasks_holding_agent ON tasks (assigned_agent_id)
    WHERE status IN ('assigned', 'in_progress') AND message_requested_at IS NULL;
