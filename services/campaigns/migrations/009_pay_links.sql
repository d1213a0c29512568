-- Links to the debtor's portal carried by every message: a link names one payment record, is
-- signed (an address that was not issued is refused before any lookup), expires, and can be
-- revoked. The signing key is made here, from Postgres's strong random source, and never
-- leaves the database but to the campaigns service.
CREATE TABLE pay_link_keys (
    id         smallint PRIMARY KEY,
    secret     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pay_link_keys (id, secret) VALUES (
    1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')
);

CREATE TABLE pay_links (
    id          uuid PRIMARY KEY,
    payment_id  uuid NOT NULL REFERENCES payments (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    opened_at   timestamptz,   -- last opened
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The one live link of a payment record, reused by every message until it nears its end.
CREATE INDEX pay_links_live ON pay_links (payment_id, expires_at) WHERE revoked_at IS NULL;
