-- Payment plans the debtor sets up on their portal, within the terms an operator gave the
-- campaign: instalments paid through the provider on their dates; the campaign waits while
-- the plan is kept and resumes when an instalment is missed.
ALTER TABLE campaigns ADD COLUMN plan_terms jsonb;

CREATE TABLE payment_plans (
    id          uuid PRIMARY KEY,
    payment_id  uuid NOT NULL REFERENCES payments (id),
    customer_id uuid NOT NULL REFERENCES customers (id),
    campaign_id uuid REFERENCES campaigns (id),
    every       text NOT NULL CHECK (every IN ('week', 'two_weeks', 'month')),
    total       numeric(14, 2) NOT NULL CHECK (total > 0),
    currency    char(3) NOT NULL,
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'completed', 'missed', 'cancelled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz
);
-- One plan at a time per payment record.
CREATE UNIQUE INDEX payment_plans_active ON payment_plans (payment_id) WHERE status = 'active';
CREATE INDEX payment_plans_payment ON payment_plans (payment_id, created_at);

CREATE TABLE plan_instalments (
    id          uuid PRIMARY KEY,
    plan_id     uuid NOT NULL REFERENCES payment_plans (id),
    number      integer NOT NULL CHECK (number >= 1),
    due_date    date NOT NULL,
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    status      text NOT NULL DEFAULT 'due' CHECK (status IN ('due', 'paid', 'missed')),
    linked_at   timestamptz,  -- when the debtor was sent its pay link, on its date
    link_after  timestamptz,  -- its day came outside the contact window: not before then
    paid_at     timestamptz,
    UNIQUE (plan_id, number)
);
CREATE INDEX plan_instalments_due ON plan_instalments (due_date) WHERE status = 'due';

ALTER TABLE checkouts ADD COLUMN instalment_id uuid REFERENCES plan_instalments (id);

-- The hours a debtor prefers to be contacted, inside the platform's legal window (both or
-- neither).
ALTER TABLE customers ADD COLUMN contact_from time, ADD COLUMN contact_until time,
    ADD CONSTRAINT customers_contact_hours
        CHECK ((contact_from IS NULL) = (contact_until IS NULL) AND contact_from < contact_until);
