-- When the AI worker requested the task's message. An AI task in progress without it was
-- interrupted while composing (a crash, a kill) and is taken up again after AI_TASK_LEASE.
ALTER TABLE tasks ADD COLUMN message_requested_at timestamptz;
