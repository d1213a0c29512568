-- Read model of auth users (built from user.* events) so human agents can be linked to them.
CREATE TABLE user_directory (
    user_id    uuid PRIMARY KEY,
    email      text NOT NULL,
    role       text NOT NULL,
    is_active  boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
