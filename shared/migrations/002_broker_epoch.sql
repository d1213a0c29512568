-- The broker a row was published to (shared/broker_epoch.py): a broker that lost its data gets
-- a new epoch, and what was published to the old one is published again.
ALTER TABLE outbox ADD COLUMN published_epoch uuid;
