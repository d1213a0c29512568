-- The relay keeps a position in the outbox instead of marking each row it published: rows up
-- to the position, in (tx, id) order, are published. `tx` is the writing transaction's ID; a
-- row is placed behind the position only once every older transaction has ended, so no row
-- can commit behind it later. Rows written before this migration take tx 0 (they come first).
ALTER TABLE outbox ADD COLUMN tx xid8 NOT NULL DEFAULT '0';
ALTER TABLE outbox ALTER COLUMN tx SET DEFAULT pg_current_xact_id();

CREATE TABLE outbox_position (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    tx xid8 NOT NULL DEFAULT '0',
    id bigint NOT NULL DEFAULT 0,
    -- The broker epoch the rows up to the position went to (null: none yet).
    epoch uuid,
    moved_at timestamptz
);
INSERT INTO outbox_position DEFAULT VALUES;

-- Rows stay in this index until pruned; only rows marked one by one (published ahead of the
-- position) or set aside leave it.
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_waiting ON outbox (tx, id) WHERE published_at IS NULL AND set_aside_at IS NULL;
