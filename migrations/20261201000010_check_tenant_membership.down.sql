SET LOCAL ROLE pplane_owner;

DROP FUNCTION tenant_member_check();
