-- The request behind the step (see campaigns.campaigns.start_request_id): the AI worker's
-- message request carries its request ID and continues its trace.
ALTER TABLE tasks ADD COLUMN request_id text, ADD COLUMN traceparent text;
