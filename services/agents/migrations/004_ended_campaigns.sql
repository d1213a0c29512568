-- Campaigns known to have ended: a step_due that arrives after the end creates no work.
CREATE TABLE ended_campaigns (
    campaign_id uuid PRIMARY KEY,
    status      text NOT NULL,
    ended_at    timestamptz NOT NULL DEFAULT now()
);
