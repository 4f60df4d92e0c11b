-- Each outbox entry keeps its payload's size, and the store moves its
-- tenant's pending counts in the statements that open and close entries
-- (docs/outbox.md, "Quotas").
--
-- Why, first: the byte counts drifted. Migration 20's triggers measured a
-- new entry with pg_column_size(payload) before PostgreSQL stored it, when
-- a large payload is not compressed yet, and a closing entry as stored,
-- compressed: a 60,024-byte payload entered the count as 60,024 bytes and
-- left it as 16,959, and the difference stayed against its tenant's quota
-- for good. An entry now carries its size in payload_bytes, written with
-- it and read by every count that it opens or closes, so it leaves the
-- count with the bytes it entered with. The size is the payload as jsonb
-- text, the measure of the plane's size limits (limits.rs), which a user
-- can reckon from what they sent; migration 25 sizes the entries that are
-- open already and counts every tenant again.
--
-- Why, second: cost. The statement triggers, with their transition
-- tables, ran on every request and every settlement: about a seventh of
-- the CPU of a quiet tenant's effect beside a busy one (docs/outbox.md,
-- "Taking turns"). The store now moves the counts inside a statement that
-- holds the tenant's head row anyway, its event append, as it already did
-- on Citus. What the store writes is marked by `app.writer = 'store'`,
-- which it sets with the tenant context (context.rs); row triggers count
-- every other write on one server, as the walkthrough's bare requeue
-- UPDATE, and stay silent for the store's own.
--
-- A member of a tenant who writes SQL by hand could set app.writer too and
-- move only its own tenant's counts (the head rows are under the same
-- policies); it could equally insert outbox rows past the store's quota
-- check, which is where quotas are enforced. `pplane check data` names a
-- tenant whose counts differ from its open entries.
SET LOCAL ROLE pplane_owner;

-- Nullable, so that adding it rewrites nothing: entries delivered before
-- this release keep NULL and are never counted again; migration 25 sizes
-- the others. Inside DO, as in migration 17 (Citus forwards a top-level
-- DDL statement's text, the whole file).
DO $column$
BEGIN
    ALTER TABLE outbox_events ADD COLUMN payload_bytes integer;
END
$column$;

-- The triggers, on a single server (Citus cannot write the head row from a
-- shard's trigger; there the store's statements are the only count, as
-- since migration 21).
DO $count$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;

    DROP TRIGGER outbox_events_count_inserted ON outbox_events;
    DROP TRIGGER outbox_events_count_updated ON outbox_events;
    DROP TRIGGER outbox_events_count_deleted ON outbox_events;
    DROP FUNCTION outbox_events_count_pending();

    -- An entry inserted by hand is sized as the store sizes its own.
    CREATE FUNCTION outbox_events_size_payload() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
    BEGIN
        NEW.payload_bytes := octet_length(NEW.payload::text);
        RETURN NEW;
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION outbox_events_size_payload() FROM PUBLIC;
    CREATE TRIGGER outbox_events_size_payload BEFORE INSERT ON outbox_events
        FOR EACH ROW WHEN (NEW.payload_bytes IS NULL)
        EXECUTE FUNCTION outbox_events_size_payload();

    -- SECURITY INVOKER, as migration 20's: the writer's own policies apply
    -- to the head row it moves.
    CREATE FUNCTION outbox_events_count_by_hand() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
    DECLARE
        entry outbox_events;
        sign integer;
    BEGIN
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.status NOT IN ('PENDING', 'IN_FLIGHT')) THEN
            entry := OLD;
            sign := -1;
        ELSE
            entry := NEW;
            sign := 1;
        END IF;
        UPDATE tenant_event_heads
        SET pending_effects = pending_effects + sign,
            pending_bytes = pending_bytes + sign * coalesce(entry.payload_bytes, 0)
        WHERE tenant_id = entry.tenant_id;
        RETURN NULL;
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION outbox_events_count_by_hand() FROM PUBLIC;

    -- Row triggers whose WHEN is false are never queued: the store's
    -- writes, and the claims and purges that change no entry's openness,
    -- cost a comparison each.
    CREATE TRIGGER outbox_events_count_inserted AFTER INSERT ON outbox_events
        FOR EACH ROW
        WHEN (NEW.status IN ('PENDING', 'IN_FLIGHT')
              AND current_setting('app.writer', true) IS DISTINCT FROM 'store')
        EXECUTE FUNCTION outbox_events_count_by_hand();
    CREATE TRIGGER outbox_events_count_updated AFTER UPDATE OF status ON outbox_events
        FOR EACH ROW
        WHEN ((OLD.status IN ('PENDING', 'IN_FLIGHT')) <> (NEW.status IN ('PENDING', 'IN_FLIGHT'))
              AND current_setting('app.writer', true) IS DISTINCT FROM 'store')
        EXECUTE FUNCTION outbox_events_count_by_hand();
    CREATE TRIGGER outbox_events_count_deleted AFTER DELETE ON outbox_events
        FOR EACH ROW
        WHEN (OLD.status IN ('PENDING', 'IN_FLIGHT')
              AND current_setting('app.writer', true) IS DISTINCT FROM 'store')
        EXECUTE FUNCTION outbox_events_count_by_hand();
END
$count$;
