-- user.* events travel on separate topics, so they may arrive out of order: keep the newest.
ALTER TABLE user_directory ADD COLUMN event_at timestamptz NOT NULL DEFAULT '-infinity';
