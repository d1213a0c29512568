-- An event the broker refuses for good (too large for it), or keeps refusing while it takes
-- the others, is set aside with the reason: it never holds up the events behind it, and
-- operators see it (remit diagnose).
ALTER TABLE outbox
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN set_aside_at timestamptz,
    ADD COLUMN set_aside_reason text;
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL AND set_aside_at IS NULL;
