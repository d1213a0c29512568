-- Every suppression removed, with who removed it and why: a recipient contacted again after
-- an opt-out must be explainable (`GET /suppressions/removals`).
CREATE TABLE suppression_removals (
    id             uuid PRIMARY KEY,
    channel        text NOT NULL,
    recipient      text NOT NULL,
    reason         text NOT NULL,   -- the suppression's own reason (opt_out, bounce, ...)
    note           text,
    suppressed_at  timestamptz NOT NULL,
    removed_reason text NOT NULL,
    removed_by     uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX suppression_removals_page ON suppression_removals (created_at, id);

-- Consents listed newest first (`GET /consents`).
CREATE INDEX voice_consents_granted ON voice_consents (granted_at);
