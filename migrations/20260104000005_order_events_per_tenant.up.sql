-- Gap-free, commit-ordered event positions per tenant, and explicit size
-- limits on the opaque payloads.
--
-- Why a head row and not a sequence: nextval() is never rolled back and
-- sequences hand out numbers in call order, not commit order, so a consumer
-- reading `sequence_number > last_seen` can skip an event that commits late
-- (the most reported bug class of event stores on PostgreSQL). Instead, each
-- append increments this tenant's head row inside the appending transaction:
-- the row lock lasts until commit, so positions are assigned in commit order;
-- a rollback undoes the increment, so there are no gaps; and tenants never
-- wait for each other. The cost is that one tenant's appends commit one at a
-- time, which the store offsets by appending a whole batch of events with one
-- increment (docs/events.md has the measured figures).
SET LOCAL ROLE pplane_owner;

CREATE TABLE tenant_event_heads (
    tenant_id     uuid        NOT NULL,
    last_sequence bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_event_heads_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_event_heads_sequence_nonnegative CHECK (last_sequence >= 0),
    CONSTRAINT tenant_event_heads_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT
);

CREATE TRIGGER tenant_event_heads_updated_at BEFORE UPDATE ON tenant_event_heads
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The same isolation as every runtime table (see migration 2).
ALTER TABLE tenant_event_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_event_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_event_heads_tenant_fence ON tenant_event_heads AS RESTRICTIVE FOR ALL TO PUBLIC
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY tenant_event_heads_member_access ON tenant_event_heads AS PERMISSIVE FOR ALL TO pplane_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()));

GRANT SELECT, INSERT, UPDATE ON tenant_event_heads TO pplane_app;

-- Payload limits. The store checks the same limits first and names the field
-- in its error; these constraints are the backstop for any other writer.
-- Sizes are of the JSON text: 256 KiB for a signal's payload, 1 MiB for a
-- checkpoint's state, 64 KiB for an effect's spec and for an event's data
-- (events describe changes; bulky state belongs in a checkpoint).
ALTER TABLE signals ADD CONSTRAINT signals_payload_size
    CHECK (octet_length(payload::text) <= 262144);
ALTER TABLE run_checkpoints ADD CONSTRAINT run_checkpoints_state_size
    CHECK (octet_length(state::text) <= 1048576);
ALTER TABLE effects ADD CONSTRAINT effects_spec_size
    CHECK (octet_length(effect_spec::text) <= 65536);
ALTER TABLE orchestration_events ADD CONSTRAINT orchestration_events_data_size
    CHECK (octet_length(event_data::text) <= 65536);
