-- What the outbox worker needs: a role that sees the queue across tenants,
-- destinations to deliver to, an attempt number to fence stale workers, a
-- due time to claim by, and a principal to record outcomes as.
--
-- Why a role of its own: every tenant table is fenced to the tenant in
-- app.tenant_id, but a worker must find due entries of every tenant without
-- knowing in advance which ones have work. pplane_dispatcher is allowed
-- exactly that, and nothing else: it reads outbox entries and destinations,
-- moves entries into IN_FLIGHT (a claim), and deletes DELIVERED entries
-- (retention). It cannot read or write any other table. Every outcome (the
-- entry's final status, the effect's status, the EFFECT_* event) is written
-- as pplane_app inside the entry's tenant, under the usual policies, by the
-- delivery principal below.
DO $roles$
DECLARE
    stmt text;
BEGIN
    FOREACH stmt IN ARRAY ARRAY[
        'CREATE ROLE pplane_dispatcher NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT',
        'GRANT pplane_dispatcher TO ' || quote_ident(current_user),
        -- A runtime that logs in as pplane_app itself can still run a worker.
        'GRANT pplane_dispatcher TO pplane_app']
    LOOP
        BEGIN
            EXECUTE stmt;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA public, pplane_meta TO pplane_dispatcher;
GRANT USAGE ON SCHEMA pplane_meta TO pplane_owner;

-- The delivery principal: the service account the worker acts as when it
-- records outcomes. One per installation, a member of every tenant (added
-- when the tenant is created, by trigger, so no path that creates a tenant
-- can forget it). Its id is no secret, as no principal id is: RLS here stops
-- application mistakes, not a holder of the runtime role (docs/tenancy.md).
-- It lives with the migration history in pplane_meta, owned like it by the
-- migrating login.
CREATE TABLE pplane_meta.plane (
    singleton          boolean     NOT NULL DEFAULT true,
    delivery_principal uuid        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plane_pkey PRIMARY KEY (singleton),
    CONSTRAINT plane_singleton CHECK (singleton)
);
INSERT INTO pplane_meta.plane (delivery_principal) VALUES (gen_random_uuid());
GRANT SELECT ON pplane_meta.plane TO pplane_owner, pplane_app, pplane_dispatcher;

SET LOCAL ROLE pplane_owner;


CREATE FUNCTION tenant_add_delivery_principal() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO user_tenants (tenant_id, user_id)
    SELECT NEW.tenant_id, p.delivery_principal FROM pplane_meta.plane p
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION tenant_add_delivery_principal() FROM PUBLIC;

CREATE TRIGGER tenants_delivery_principal AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenant_add_delivery_principal();

-- Rows that exist already are brought along below. The owner sees rows
-- only while a table is not forced; the transaction holds each table's
-- exclusive lock from the ALTER to the commit, so nothing else ever sees a
-- table unforced.
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE user_tenants NO FORCE ROW LEVEL SECURITY;
INSERT INTO user_tenants (tenant_id, user_id)
SELECT t.tenant_id, p.delivery_principal FROM tenants t, pplane_meta.plane p
ON CONFLICT DO NOTHING;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE user_tenants FORCE ROW LEVEL SECURITY;

-- Where a tenant's effects go. A webhook destination signs every request
-- with its own secret (Standard Webhooks: whsec_ + base64); a NATS
-- destination publishes to a JetStream subject. Configuration, not runtime
-- state: it carries no correlation id and emits no event.
CREATE TABLE effect_destinations (
    tenant_id      uuid         NOT NULL,
    id             uuid         NOT NULL,
    name           varchar(100) NOT NULL,
    kind           varchar(20)  NOT NULL,
    target         text         NOT NULL,
    signing_secret text,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT effect_destinations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT effect_destinations_name_key UNIQUE (tenant_id, name),
    CONSTRAINT effect_destinations_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT effect_destinations_kind_check CHECK (kind IN ('WEBHOOK', 'NATS')),
    CONSTRAINT effect_destinations_name_form CHECK (name ~ '^[a-z0-9][a-z0-9._-]*$'),
    CONSTRAINT effect_destinations_webhook_target CHECK (kind <> 'WEBHOOK' OR target ~ '^https?://'),
    CONSTRAINT effect_destinations_webhook_secret CHECK (
        (kind = 'WEBHOOK') = (signing_secret IS NOT NULL))
);

CREATE TRIGGER effect_destinations_updated_at BEFORE UPDATE ON effect_destinations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- attempt counts claims, not failures: it goes up when an entry is taken,
-- so an entry that kills its worker still uses up attempts, and an
-- acknowledgement names the attempt it answers (a stale one matches no row).
-- available_at is when an open entry may next be claimed: now for a new
-- entry, next_retry_at after a failure, the lease's end while in flight;
-- NULL once delivered or dead. One partial index on it serves every claim.
ALTER TABLE outbox_events
    ADD COLUMN destination_id uuid,
    ADD COLUMN attempt integer NOT NULL DEFAULT 0,
    ADD COLUMN available_at timestamptz DEFAULT now();

ALTER TABLE outbox_events NO FORCE ROW LEVEL SECURITY;
UPDATE outbox_events SET available_at = CASE status
    WHEN 'PENDING' THEN coalesce(next_retry_at, created_at)
    WHEN 'IN_FLIGHT' THEN coalesce(lease_expires_at, now())
    END;
ALTER TABLE outbox_events FORCE ROW LEVEL SECURITY;

ALTER TABLE outbox_events
    ADD CONSTRAINT outbox_events_destination_fkey FOREIGN KEY (tenant_id, destination_id)
        REFERENCES effect_destinations (tenant_id, id) ON DELETE RESTRICT,
    ADD CONSTRAINT outbox_events_attempt_nonnegative CHECK (attempt >= 0),
    ADD CONSTRAINT outbox_events_available_when_open CHECK (
        (status IN ('PENDING', 'IN_FLIGHT')) = (available_at IS NOT NULL));

-- The walkthrough's requeue (section 8) is a bare UPDATE of status,
-- retry_count and next_retry_at. So that it works as written, the schedule
-- follows the status: an open entry without a due time is due at its
-- next_retry_at or now, a closed one has none, and a dead letter put back
-- to PENDING starts its attempts over.
CREATE FUNCTION outbox_events_schedule() RETURNS trigger
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
REVOKE EXECUTE ON FUNCTION outbox_events_schedule() FROM PUBLIC;

CREATE TRIGGER outbox_events_schedule BEFORE UPDATE OF status ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION outbox_events_schedule();

CREATE INDEX outbox_events_due_idx ON outbox_events (available_at)
    WHERE status IN ('PENDING', 'IN_FLIGHT');
CREATE INDEX outbox_events_delivered_idx ON outbox_events (delivered_at)
    WHERE status = 'DELIVERED';
CREATE INDEX outbox_events_destination_idx ON outbox_events (tenant_id, destination_id);

-- Row-level security. The tenant fence stays on every table for every role;
-- on the two tables the dispatcher works on, it also lets the dispatcher
-- through, and the dispatcher's own policies say what it may do there.
ALTER TABLE effect_destinations ENABLE ROW LEVEL SECURITY;
ALTER TABLE effect_destinations FORCE ROW LEVEL SECURITY;
CREATE POLICY effect_destinations_tenant_fence ON effect_destinations AS RESTRICTIVE FOR ALL TO PUBLIC
    USING (tenant_id = current_tenant_id() OR current_user = 'pplane_dispatcher')
    WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY effect_destinations_member_access ON effect_destinations AS PERMISSIVE FOR ALL TO pplane_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()));
CREATE POLICY effect_destinations_dispatch_read ON effect_destinations AS PERMISSIVE FOR SELECT
    TO pplane_dispatcher USING (true);

DROP POLICY outbox_events_tenant_fence ON outbox_events;
CREATE POLICY outbox_events_tenant_fence ON outbox_events AS RESTRICTIVE FOR ALL TO PUBLIC
    USING (tenant_id = current_tenant_id() OR current_user = 'pplane_dispatcher')
    WITH CHECK (tenant_id = current_tenant_id() OR current_user = 'pplane_dispatcher');
CREATE POLICY outbox_events_dispatch_read ON outbox_events AS PERMISSIVE FOR SELECT
    TO pplane_dispatcher USING (true);
-- A claim: an open entry becomes IN_FLIGHT, nothing else.
CREATE POLICY outbox_events_dispatch_claim ON outbox_events AS PERMISSIVE FOR UPDATE
    TO pplane_dispatcher USING (status IN ('PENDING', 'IN_FLIGHT')) WITH CHECK (status = 'IN_FLIGHT');
-- Retention: only delivered entries go; dead letters wait for an operator.
CREATE POLICY outbox_events_dispatch_purge ON outbox_events AS PERMISSIVE FOR DELETE
    TO pplane_dispatcher USING (status = 'DELIVERED');

GRANT SELECT, INSERT, UPDATE ON effect_destinations TO pplane_app;
GRANT SELECT ON effect_destinations TO pplane_dispatcher;
GRANT SELECT, DELETE ON outbox_events TO pplane_dispatcher;
GRANT UPDATE (status, attempt, lease_owner, lease_expires_at, available_at) ON outbox_events
    TO pplane_dispatcher;
GRANT EXECUTE ON FUNCTION current_tenant_id(), current_user_id() TO pplane_dispatcher;
