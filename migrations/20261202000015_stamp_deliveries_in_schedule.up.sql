-- The outbox's schedule trigger (migration 7) also stamps delivered_at:
-- an entry that becomes DELIVERED is stamped with the time of its
-- transaction, one that is anything else has none.
--
-- Why: the worker's settle statement used to say so itself with
-- `CASE WHEN status = 'DELIVERED' THEN now() END`, and Citus refuses a
-- non-immutable function inside CASE in an UPDATE of a distributed table
-- (it evaluates now() on the coordinator, and a CASE may skip it). In the
-- trigger, now() runs beside the row, on whichever node holds it. The
-- settle statement now leaves available_at and delivered_at to this
-- trigger; the walkthrough's bare requeue UPDATE gets the same treatment.
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
    IF NEW.status = 'DELIVERED' THEN
        NEW.delivered_at := coalesce(NEW.delivered_at, now());
    ELSE
        NEW.delivered_at := NULL;
    END IF;
    IF OLD.status = 'DEAD_LETTER' AND NEW.status = 'PENDING' THEN
        NEW.attempt := 0;
    END IF;
    RETURN NEW;
END
$$;
