-- What a task's failure said, so that its result can be told again to a step that asks anew:
-- `retryable` (may the step try again?) and outcome 'unknown' (a message that may have gone out).
ALTER TABLE tasks ADD COLUMN retryable boolean;
