-- When an event's last refusal was counted: refusals are counted no faster than the relay's
-- back-off, so OUTBOX_MAX_FAILURES stands for minutes of refusals, not a burst of retries
-- woken by every commit while a topic is briefly unavailable.
ALTER TABLE outbox ADD COLUMN failed_at timestamptz;
