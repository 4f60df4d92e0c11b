//! A snapshot of the catalog facts the rules need, read in a few queries.

use sqlx::PgConnection;

use crate::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Table {
    pub name: String,
    pub owner: String,
    pub rls_enabled: bool,
    pub rls_forced: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Column {
    pub table_name: String,
    pub name: String,
    /// The type as declared, e.g. `uuid`, `actor_ref`.
    pub type_name: String,
    /// For a domain, the type underneath it, e.g. `character varying(100)`.
    pub base_type: String,
    pub not_null: bool,
    /// True when the column's domain carries a CHECK constraint.
    pub domain_checked: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Constraint {
    pub table_name: String,
    pub name: String,
    /// p (primary key), u (unique), f (foreign key), c (check).
    pub kind: String,
    pub columns: Vec<String>,
    pub ref_table: Option<String>,
    pub ref_columns: Vec<String>,
    /// a (no action), r (restrict), c (cascade), n (set null), d (set default).
    pub on_delete: Option<String>,
    pub definition: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Index {
    pub table_name: String,
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub valid: bool,
    pub partial: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Trigger {
    pub table_name: String,
    pub name: String,
    /// O (origin), D (disabled), R (replica), A (always).
    pub enabled: String,
    pub row_level: bool,
    pub before: bool,
    pub on_update: bool,
    pub on_delete: bool,
    pub on_truncate: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Policy {
    pub table_name: String,
    pub name: String,
    pub permissive: bool,
    pub roles: Vec<String>,
    /// ALL, SELECT, INSERT, UPDATE or DELETE.
    pub command: String,
    pub using_expr: Option<String>,
    pub check_expr: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
    pub bypass_rls: bool,
    pub owns: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Privilege {
    pub role: String,
    pub table_name: String,
    pub privilege: String,
    pub granted: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct View {
    pub name: String,
    pub materialized: bool,
    pub security_invoker: bool,
    pub app_can_read: bool,
}

/// Where a table lives on a Citus cluster.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Placement {
    pub table_name: String,
    /// h (hash-distributed), n (reference), or none: local to the coordinator.
    pub method: Option<String>,
    /// The distribution column of a hash-distributed table.
    pub column: Option<String>,
    pub colocation: Option<i32>,
}

/// What the Citus profile adds (migration 14); absent on plain PostgreSQL.
#[derive(Debug, Clone, Default)]
pub struct Citus {
    pub placements: Vec<Placement>,
    /// `current_member_tenant_id()` exists as a STABLE SECURITY DEFINER
    /// function that asks `user_tenants` whether the current principal is
    /// a member of the active tenant: the member policies may compare
    /// tenant_id with it instead of running their subquery (migration 16).
    pub member_function: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tables: Vec<Table>,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub triggers: Vec<Trigger>,
    pub policies: Vec<Policy>,
    pub roles: Vec<Role>,
    pub privileges: Vec<Privilege>,
    pub views: Vec<View>,
    pub citus: Option<Citus>,
}

impl Catalog {
    /// Reads the `public` schema, where every table of the plane lives.
    pub async fn load(conn: &mut PgConnection) -> Result<Catalog> {
        let tables = sqlx::query_as(
            "SELECT c.relname::text AS name, pg_get_userbyid(c.relowner)::text AS owner,
                    c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        let columns = sqlx::query_as(
            "SELECT c.relname::text AS table_name, a.attname::text AS name,
                    format_type(a.atttypid, a.atttypmod) AS type_name,
                    CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod)
                         ELSE format_type(a.atttypid, a.atttypmod) END AS base_type,
                    a.attnotnull AS not_null,
                    EXISTS (SELECT 1 FROM pg_constraint d WHERE d.contypid = t.oid AND d.contype = 'c')
                        AS domain_checked
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_type t ON t.oid = a.atttypid
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY 1, a.attnum",
        )
        .fetch_all(&mut *conn)
        .await?;
        let constraints = sqlx::query_as(
            "SELECT c.relname::text AS table_name, k.conname::text AS name, k.contype::text AS kind,
                    ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i)
                        AS columns,
                    f.relname::text AS ref_table,
                    ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i)
                        AS ref_columns,
                    CASE WHEN k.contype = 'f' THEN k.confdeltype::text END AS on_delete,
                    pg_get_constraintdef(k.oid) AS definition
             FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_class f ON f.oid = k.confrelid
             WHERE n.nspname = 'public' ORDER BY 1, 2",
        )
        .fetch_all(&mut *conn)
        .await?;
        let indexes = sqlx::query_as(
            "SELECT c.relname::text AS table_name, i.relname::text AS name,
                    ARRAY(SELECT a.attname::text FROM unnest(x.indkey[0:x.indnkeyatts - 1]) WITH ORDINALITY u(n, o)
                          JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n ORDER BY u.o)
                        AS columns,
                    x.indisunique AS unique, x.indisvalid AS valid, x.indpred IS NOT NULL AS partial
             FROM pg_index x
             JOIN pg_class c ON c.oid = x.indrelid
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' ORDER BY 1, 2",
        )
        .fetch_all(&mut *conn)
        .await?;
        // tgtype bits: 1 row, 2 before, 8 delete, 16 update, 32 truncate.
        let triggers = sqlx::query_as(
            "SELECT c.relname::text AS table_name, t.tgname::text AS name, t.tgenabled::text AS enabled,
                    (t.tgtype & 1) <> 0 AS row_level, (t.tgtype & 2) <> 0 AS before,
                    (t.tgtype & 16) <> 0 AS on_update, (t.tgtype & 8) <> 0 AS on_delete,
                    (t.tgtype & 32) <> 0 AS on_truncate
             FROM pg_trigger t
             JOIN pg_class c ON c.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2",
        )
        .fetch_all(&mut *conn)
        .await?;
        let policies = sqlx::query_as(
            "SELECT tablename::text AS table_name, policyname::text AS name,
                    permissive = 'PERMISSIVE' AS permissive, roles::text[] AS roles,
                    cmd AS command, qual AS using_expr, with_check AS check_expr
             FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2",
        )
        .fetch_all(&mut *conn)
        .await?;
        let roles = sqlx::query_as(
            "SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls,
                    ARRAY(SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.relowner = r.oid AND n.nspname = 'public' ORDER BY 1) AS owns
             FROM pg_roles r WHERE r.rolname IN ('pplane_app', 'pplane_owner', 'pplane_dispatcher') ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        let privileges = sqlx::query_as(
            "SELECT r.rolname::text AS role, c.relname::text AS table_name, p.privilege,
                    has_table_privilege(r.oid, c.oid, p.privilege) AS granted
             FROM pg_roles r
             CROSS JOIN pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)
             WHERE r.rolname IN ('pplane_app', 'pplane_owner', 'pplane_dispatcher') AND n.nspname = 'public'
               AND c.relkind IN ('r', 'p') ORDER BY 1, 2, 3",
        )
        .fetch_all(&mut *conn)
        .await?;
        let views = sqlx::query_as(
            "SELECT c.relname::text AS name, c.relkind = 'm' AS materialized,
                    coalesce('security_invoker=true' = ANY (c.reloptions)
                             OR 'security_invoker=on' = ANY (c.reloptions), false) AS security_invoker,
                    to_regrole('pplane_app') IS NOT NULL
                        AND has_table_privilege('pplane_app', c.oid, 'SELECT') AS app_can_read
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
               -- An extension's own views (Citus puts citus_tables in
               -- public) read the extension's catalog, not the plane's.
               AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                 AND d.deptype = 'e')
             ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        let citus = Citus::load(conn).await?;
        Ok(Catalog {
            tables,
            columns,
            constraints,
            indexes,
            triggers,
            policies,
            roles,
            privileges,
            views,
            citus,
        })
    }

    /// True when the profile's member function may stand in for the
    /// membership subquery.
    pub fn member_function(&self) -> bool {
        self.citus.as_ref().is_some_and(|c| c.member_function)
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn column(&self, table: &str, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.table_name == table && c.name == name)
    }

    pub fn constraints_of<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = &'a Constraint> + 'a {
        self.constraints
            .iter()
            .filter(move |c| c.table_name == table)
    }

    pub fn privilege(&self, role: &str, table: &str, privilege: &str) -> bool {
        self.privileges.iter().any(|p| {
            p.role == role && p.table_name == table && p.privilege == privilege && p.granted
        })
    }
}

impl Citus {
    async fn load(conn: &mut PgConnection) -> Result<Option<Citus>> {
        if crate::Profile::detect(&mut *conn).await? != crate::Profile::Citus {
            return Ok(None);
        }
        let placements = sqlx::query_as(
            "SELECT c.relname::text AS table_name, p.partmethod::text AS method,
                    CASE WHEN p.partmethod = 'h'
                         THEN column_to_column_name(p.logicalrelid, p.partkey) END AS column,
                    p.colocationid AS colocation
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
             ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        let member_function = sqlx::query_scalar(
            "SELECT EXISTS (
                 SELECT 1 FROM pg_proc f
                 WHERE f.oid = to_regprocedure('public.current_member_tenant_id()')
                   AND f.prosecdef AND f.provolatile = 's'
                   AND f.prosrc LIKE '%user_tenants%' AND f.prosrc LIKE '%current_user_id()%'
                   AND f.prosrc LIKE '%current_tenant_id()%')",
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok(Some(Citus {
            placements,
            member_function,
        }))
    }
}
