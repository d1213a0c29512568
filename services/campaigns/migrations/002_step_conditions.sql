-- Optional conditions a step must meet when it falls due (else it is skipped).
ALTER TABLE campaign_steps ADD COLUMN conditions jsonb NOT NULL DEFAULT '{}';
-- When the customer last replied to the campaign (any understood reply).
ALTER TABLE campaigns ADD COLUMN last_reply_at timestamptz;
