-- Money paid on the debtor's portal, confirmed by the payment provider: a checkout per attempt
-- to pay, and each receipt naming where it came from.
ALTER TABLE payment_receipts ADD COLUMN source text NOT NULL DEFAULT 'manual'
    CHECK (source IN ('manual', 'stripe', 'simulated'));

CREATE TABLE checkouts (
    id                  uuid PRIMARY KEY,
    payment_id          uuid NOT NULL REFERENCES payments (id),
    link_id             uuid NOT NULL REFERENCES pay_links (id),
    provider            text NOT NULL CHECK (provider IN ('stripe', 'simulated')),
    provider_session_id text UNIQUE,
    checkout_url        text,
    amount              numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL,
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'paid', 'failed', 'expired')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz
);
CREATE INDEX checkouts_payment ON checkouts (payment_id, created_at);
CREATE INDEX checkouts_open ON checkouts (payment_id) WHERE status = 'open';

-- The provider's webhook deliveries handled once each: a replay answers as before, and does
-- nothing again.
CREATE TABLE provider_events (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
