CREATE TABLE messages (
    id               uuid PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,   -- a second request with the same key sends nothing
    task_id          uuid,
    campaign_id      uuid,
    customer_id      uuid,
    payment_id       uuid,
    channel          text NOT NULL CHECK (channel IN ('sms', 'voice', 'email')),
    recipient        text NOT NULL,
    timezone         text NOT NULL DEFAULT 'UTC',
    subject          text,
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'deferred', 'sent', 'delivered',
                                       'failed', 'bounced', 'suppressed')),
    reason           text,
    provider_id      text,
    simulated        boolean NOT NULL DEFAULT false,
    attempts         integer NOT NULL DEFAULT 0,
    send_after       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_ready ON messages (send_after) WHERE status IN ('queued', 'deferred');
CREATE INDEX messages_campaign ON messages (campaign_id, created_at);
CREATE INDEX messages_page ON messages (created_at, id);
CREATE INDEX messages_provider ON messages (provider_id);
CREATE INDEX messages_recipient ON messages (recipient, channel, created_at);
CREATE INDEX messages_debt_calls ON messages (payment_id, channel, sent_at);

CREATE TABLE suppressions (
    id         uuid PRIMARY KEY,
    channel    text NOT NULL CHECK (channel IN ('sms', 'voice', 'email', 'all')),
    recipient  text NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('do_not_call', 'opt_out', 'bounce', 'manual')),
    note       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, recipient)
);

-- Consent to AI-voice calls (TCPA), and conversations held (Regulation F's 7-day quiet).
CREATE TABLE voice_consents (
    recipient  text PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT now(),
    source     text
);
CREATE TABLE conversations (
    id         uuid PRIMARY KEY,
    payment_id uuid NOT NULL,
    recipient  text NOT NULL,
    held_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_debt ON conversations (payment_id, held_at);
