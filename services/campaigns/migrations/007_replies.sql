-- What customers answered, and the outcomes people recorded, as understood: listed beside a
-- campaign's messages and tasks (`GET /replies`). The id is the `reply.classified` event's,
-- so a redelivered event adds nothing.
CREATE TABLE replies (
    id            uuid PRIMARY KEY,
    customer_id   uuid NOT NULL REFERENCES customers (id),
    campaign_id   uuid,
    channel       text,
    text          text,
    intent        text NOT NULL,
    confidence    double precision NOT NULL,
    promised_date date,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX replies_page ON replies (created_at, id);
CREATE INDEX replies_customer ON replies (customer_id, created_at, id);
CREATE INDEX replies_campaign ON replies (campaign_id, created_at, id);

-- Money collected over a period (`GET /payments/collected`) reads receipts by date.
CREATE INDEX payment_receipts_received ON payment_receipts (received_at);
