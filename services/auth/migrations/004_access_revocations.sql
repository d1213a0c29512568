-- When each user's access tokens were last revoked (logout of every session, deactivation, a
-- role change, a password reset). Redis holds the markers every service checks; this table
-- lets auth put them back after Redis lost them (a restart without persistence).
CREATE TABLE access_revocations (
    user_id        uuid PRIMARY KEY REFERENCES users (id),
    revoked_before timestamptz NOT NULL
);
