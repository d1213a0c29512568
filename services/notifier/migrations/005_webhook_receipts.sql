-- Twilio's signed webhooks handled once each: a replay of the same inbound message or call
-- input (same MessageSid or CallSid) is answered as before but causes nothing again.
CREATE TABLE webhook_receipts (
    kind         text NOT NULL,
    provider_sid text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, provider_sid)
);
