-- `unknown`: the provider may have taken the message (it stalled or hung up after the data went
-- out); it is never sent again, a person decides. `retryable` keeps what a failure said, so the
-- result of a send can be told again to whoever asks with the same idempotency key.
-- `kind`: account email (password resets) is not a collection message: no contact-hour or
-- consent guards, no List-Unsubscribe; `html` is its own markup.
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('queued', 'sending', 'deferred', 'sent', 'delivered', 'failed', 'bounced',
                      'suppressed', 'unknown'));
ALTER TABLE messages ADD COLUMN retryable boolean;
ALTER TABLE messages ADD COLUMN kind text NOT NULL DEFAULT 'collection'
    CHECK (kind IN ('collection', 'account'));
ALTER TABLE messages ADD COLUMN html text;
CREATE INDEX messages_ready_channel ON messages (channel, send_after)
    WHERE status IN ('queued', 'deferred');
DROP INDEX messages_ready;
