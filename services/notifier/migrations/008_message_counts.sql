-- Messages counted by when they were sent, or for the others when their status last changed
-- (`GET /messages/summary`).
CREATE INDEX messages_counted ON messages ((coalesce(sent_at, updated_at))) WHERE kind = 'collection';
