SET LOCAL ROLE pplane_owner;

DROP FUNCTION event_append_batch(jsonb);
