CREATE TABLE agents (
    id                uuid PRIMARY KEY,
    name              text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('ai', 'human')),
    status            text NOT NULL DEFAULT 'offline'
                      CHECK (status IN ('online', 'offline', 'busy', 'disabled')),
    channels          text[] NOT NULL,
    max_concurrent    integer NOT NULL DEFAULT 10 CHECK (max_concurrent > 0),
    user_id           uuid UNIQUE,   -- the auth user a human agent signs in as
    last_heartbeat_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_status ON agents (status, kind);

CREATE TABLE tasks (
    id                uuid PRIMARY KEY,
    campaign_id       uuid NOT NULL,
    step_run_id       uuid NOT NULL,
    step_attempt      integer NOT NULL DEFAULT 1,
    customer_id       uuid NOT NULL,
    channel           text NOT NULL CHECK (channel IN ('email', 'sms', 'voice', 'human')),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'assigned', 'in_progress', 'completed', 'failed', 'cancelled')),
    assigned_agent_id uuid REFERENCES agents (id),
    attempts          integer NOT NULL DEFAULT 0,   -- sends tried for this task
    last_error        text,
    outcome           text,
    promised_date     date,
    note              text,
    step              jsonb NOT NULL,               -- the campaign.step_due payload
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (step_run_id, step_attempt)
);
CREATE INDEX tasks_campaign ON tasks (campaign_id, created_at);
CREATE INDEX tasks_pending ON tasks (created_at) WHERE status = 'pending';
CREATE INDEX tasks_agent ON tasks (assigned_agent_id, status);
CREATE INDEX tasks_stuck ON tasks (updated_at) WHERE status IN ('assigned', 'in_progress');
CREATE INDEX tasks_page ON tasks (created_at, id);
