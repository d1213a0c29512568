CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE customers (
    id           uuid PRIMARY KEY,
    company_name text NOT NULL,
    contact_name text NOT NULL,
    email        text,
    phone        text,            -- E.164
    timezone     text NOT NULL,   -- IANA name
    is_active    boolean NOT NULL DEFAULT true,
    external_ref text UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_page ON customers (created_at, id);
CREATE INDEX customers_active ON customers (is_active, created_at, id);
CREATE INDEX customers_name_search ON customers USING gin (lower(company_name) public.gin_trgm_ops);
CREATE INDEX customers_email_search ON customers USING gin (lower(email) public.gin_trgm_ops);

CREATE TABLE payments (
    id             uuid PRIMARY KEY,
    customer_id    uuid NOT NULL REFERENCES customers (id),
    invoice_number text NOT NULL,
    amount         numeric(14, 2) NOT NULL CHECK (amount > 0),
    currency       char(3) NOT NULL,
    due_date       date NOT NULL,
    amount_paid    numeric(14, 2) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'partially_paid', 'paid', 'disputed', 'written_off')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, invoice_number)
);
CREATE INDEX payments_page ON payments (created_at, id);
CREATE INDEX payments_customer ON payments (customer_id, created_at, id);
CREATE INDEX payments_status ON payments (status, created_at, id);

CREATE TABLE payment_receipts (
    id          uuid PRIMARY KEY,
    payment_id  uuid NOT NULL REFERENCES payments (id),
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    received_at timestamptz NOT NULL,
    reference   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_receipts_payment ON payment_receipts (payment_id);

CREATE TABLE campaigns (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    customer_id  uuid NOT NULL REFERENCES customers (id),
    payment_id   uuid NOT NULL REFERENCES payments (id),
    status       text NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'scheduled', 'active', 'paused', 'completed', 'cancelled', 'failed')),
    start_at     timestamptz,
    started_at   timestamptz,
    ended_at     timestamptz,
    paused_at    timestamptz,
    paused_until timestamptz,
    pause_reason text,
    flagged      boolean NOT NULL DEFAULT false,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_page ON campaigns (created_at, id);
CREATE INDEX campaigns_customer ON campaigns (customer_id, status);
CREATE INDEX campaigns_payment ON campaigns (payment_id, status);
CREATE INDEX campaigns_status ON campaigns (status, created_at, id);
CREATE INDEX campaigns_activation ON campaigns (start_at) WHERE status = 'scheduled';
CREATE INDEX campaigns_wake ON campaigns (paused_until) WHERE status = 'paused';

CREATE TABLE campaign_steps (
    id          uuid PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'voice', 'human')),
    delay       interval NOT NULL CHECK (delay >= interval '0'),
    tone        text NOT NULL DEFAULT 'friendly',
    template    text,
    UNIQUE (campaign_id, position)
);

CREATE TABLE step_runs (
    id           uuid PRIMARY KEY,
    campaign_id  uuid NOT NULL REFERENCES campaigns (id),
    step_id      uuid NOT NULL REFERENCES campaign_steps (id),
    position     integer NOT NULL,
    channel      text NOT NULL,
    due_at       timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'emitted', 'completed', 'failed', 'cancelled', 'skipped')),
    attempts     integer NOT NULL DEFAULT 0,
    emitted_at   timestamptz,
    finished_at  timestamptz,
    last_error   text,
    outcome      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_runs_due ON step_runs (due_at) WHERE status = 'pending';
CREATE INDEX step_runs_campaign ON step_runs (campaign_id, position);
