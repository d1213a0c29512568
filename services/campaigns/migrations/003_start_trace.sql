-- The request that started the campaign: its steps' events carry its request ID and continue
-- its trace, however much later they fall due, so an operator can follow one start end to end.
ALTER TABLE campaigns ADD COLUMN start_request_id text, ADD COLUMN start_traceparent text;
