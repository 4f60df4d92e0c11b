-- API keys: how a program outside this process acts in one tenant, through
-- `pplane serve`.
--
-- A key is bound to one tenant, one principal (a member of that tenant) and
-- one scope, and every request made with it runs in that tenant's context as
-- that principal, so row-level security fences it exactly as it fences the
-- CLI. The key text carries its own id, tenant and principal (they are not
-- secrets): the server sets the tenant context from them before it reads the
-- key's row, which it then may see only as that member. So no policy here
-- lets anyone read keys across tenants, and an unknown tenant or principal
-- in a forged key finds nothing.
--
-- Only a SHA-256 of the key's 256-bit random secret is stored; a secret of
-- that strength needs no slow hash, and the server compares digests in
-- constant time. The key is printed once, at creation.
--
-- A key dies with its principal's membership (ON DELETE CASCADE from
-- user_tenants). Revocation sets revoked_at and takes effect on the next
-- request, because every request reads the row in its own transaction.
SET LOCAL ROLE pplane_owner;

CREATE TABLE api_keys (
    tenant_id   uuid         NOT NULL,
    id          uuid         NOT NULL,
    user_id     uuid         NOT NULL,
    name        varchar(100) NOT NULL,
    scope       varchar(20)  NOT NULL,
    secret_hash bytea        NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT api_keys_member_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES user_tenants (tenant_id, user_id) ON DELETE CASCADE,
    CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'runtime', 'operator')),
    CONSTRAINT api_keys_secret_hash_length CHECK (octet_length(secret_hash) = 32),
    CONSTRAINT api_keys_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);

CREATE TRIGGER api_keys_updated_at BEFORE UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant_fence ON api_keys AS RESTRICTIVE FOR ALL TO PUBLIC
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY api_keys_member_access ON api_keys AS PERMISSIVE FOR ALL TO pplane_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()));

-- Keys are created and revoked, never edited otherwise or deleted.
GRANT SELECT, INSERT ON api_keys TO pplane_app;
GRANT UPDATE (revoked_at) ON api_keys TO pplane_app;
