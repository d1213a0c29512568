-- A set-aside row let go again (set_aside_at cleared by a person) may lie behind the relay's
-- position by then: it takes the releasing transaction's ID, so that it comes after the
-- position and is published.
CREATE FUNCTION outbox_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.tx := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER outbox_released BEFORE UPDATE OF set_aside_at ON outbox
    FOR EACH ROW WHEN (OLD.set_aside_at IS NOT NULL AND NEW.set_aside_at IS NULL)
    EXECUTE FUNCTION outbox_released();
