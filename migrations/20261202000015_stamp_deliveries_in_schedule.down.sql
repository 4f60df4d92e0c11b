-- The schedule trigger of migration 7, which left delivered_at to the
-- settle statement.
SET LOCAL ROLE pplane_owner;

CREATE OR REPLACE FUNCTION outbox_events_schedule() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.status IN ('DELIVERED', 'DEAD_LETTER') THEN
        NEW.available_at := NULL;
    ELSIF NEW.available_at IS NULL THEN
        NEW.available_at := coalesce(NEW.next_retry_at, now());
    END IF;
    IF OLD.status = 'DEAD_LETTER' AND NEW.status = 'PENDING' THEN
        NEW.attempt := 0;
    END IF;
    RETURN NEW;
END
$$;
