-- The request behind the message: the send loop's events carry its request ID and continue
-- its trace.
ALTER TABLE messages ADD COLUMN request_id text, ADD COLUMN traceparent text;
