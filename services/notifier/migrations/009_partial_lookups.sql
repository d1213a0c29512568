-- A message has the provider's ID only once it was sent, and only sent calls count against a
-- debt's weekly calls (`voice_facts`): indexing just those rows spares every message's insert
-- and claim an entry in each index (a message is written three times: queued, claimed, sent).
DROP INDEX messages_provider;
CREATE INDEX messages_provider ON messages (provider_id) WHERE provider_id IS NOT NULL;
DROP INDEX messages_debt_calls;
CREATE INDEX messages_debt_calls ON messages (payment_id, sent_at)
    WHERE channel = 'voice' AND sent_at IS NOT NULL;
