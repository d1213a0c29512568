-- The message a task requested, kept so that asking again (a step re-driven because its
-- result was never heard) repeats the same request under the same key without composing anew.
ALTER TABLE tasks ADD COLUMN message_request jsonb;
