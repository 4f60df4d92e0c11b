//! Multi-Tenancy: row-level security, its policies, and the two roles.

use super::{DELETABLE_TABLES, DISPATCH_TABLES, MEMBER_TABLES};

/// The fence's one exception, as PostgreSQL prints it.
const DISPATCHER_EXCEPTION: &str =
    "((tenant_id = current_tenant_id()) OR (CURRENT_USER = 'pplane_dispatcher'::name))";
use crate::checks::catalog::Catalog;
use crate::checks::{Area, CheckResult};

pub(super) fn rls_enabled_forced(cat: &Catalog) -> CheckResult {
    let failures = cat
        .tables
        .iter()
        .filter(|t| !(t.rls_enabled && t.rls_forced))
        .map(|t| {
            format!(
                "{}: row-level security {}",
                t.name,
                if t.rls_enabled {
                    "enabled but not forced"
                } else {
                    "disabled"
                }
            )
        })
        .collect();
    CheckResult::from_failures(
        Area::MultiTenancy,
        "row-level security enabled and forced on every table",
        failures,
        format!("{} tables", cat.tables.len()),
    )
}

pub(super) fn tenant_fences(cat: &Catalog) -> CheckResult {
    // The fence is `tenant_id = current_tenant_id()`; the only alternative
    // it may allow is the dispatcher, and only where the dispatcher works.
    let fenced = |table: &str, expr: &Option<String>| {
        expr.as_deref().is_some_and(|e| {
            e.contains("tenant_id = current_tenant_id()")
                && (!e.contains(" OR ")
                    || (DISPATCH_TABLES.contains(&table) && e == DISPATCHER_EXCEPTION))
        })
    };
    let failures = cat
        .tables
        .iter()
        .filter(|t| {
            !cat.policies.iter().any(|p| {
                p.table_name == t.name
                    && !p.permissive
                    && p.command == "ALL"
                    && p.roles == ["public"]
                    && fenced(&t.name, &p.using_expr)
                    && fenced(&t.name, &p.check_expr)
            })
        })
        .map(|t| format!("{}: no restrictive tenant fence policy", t.name))
        .collect();
    CheckResult::from_failures(
        Area::MultiTenancy,
        "a restrictive tenant_id = app.tenant_id fence on every table",
        failures,
        format!("{} tables", cat.tables.len()),
    )
}

pub(super) fn membership_policies(cat: &Catalog) -> CheckResult {
    let member = |expr: &Option<String>| {
        expr.as_deref().is_some_and(|e| {
            e.contains("current_tenant_id()")
                && e.contains("user_tenants")
                && e.contains("current_user_id()")
        })
    };
    let failures = MEMBER_TABLES
        .iter()
        .filter(|t| {
            !cat.policies.iter().any(|p| {
                p.table_name == **t
                    && p.permissive
                    && p.command == "ALL"
                    && p.roles == ["pplane_app"]
                    && member(&p.using_expr)
                    && member(&p.check_expr)
            })
        })
        .map(|t| {
            format!("{t}: no member-of-active-tenant policy for pplane_app (USING and WITH CHECK)")
        })
        .collect();
    CheckResult::from_failures(
        Area::MultiTenancy,
        "reads and writes need membership of the active tenant",
        failures,
        format!("{} tables", MEMBER_TABLES.len()),
    )
}

pub(super) fn runtime_role(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for name in ["pplane_app", "pplane_dispatcher"] {
        match cat.roles.iter().find(|r| r.name == name) {
            None => failures.push(format!("role {name} does not exist")),
            Some(r) => {
                if r.superuser {
                    failures.push(format!("{name} is a superuser"));
                }
                if r.bypass_rls {
                    failures.push(format!("{name} has BYPASSRLS"));
                }
                if !r.owns.is_empty() {
                    failures.push(format!("{name} owns {}", r.owns.join(", ")));
                }
            }
        }
    }
    CheckResult::from_failures(
        Area::MultiTenancy,
        "pplane_app and pplane_dispatcher are not superuser, have no BYPASSRLS, own nothing",
        failures,
        "NOSUPERUSER NOBYPASSRLS, owns 0 tables",
    )
}

pub(super) fn owner_role(cat: &Catalog) -> CheckResult {
    let failures = cat
        .tables
        .iter()
        .filter(|t| t.owner != "pplane_owner")
        .map(|t| format!("{} is owned by {}", t.name, t.owner))
        .collect();
    CheckResult::from_failures(
        Area::MultiTenancy,
        "pplane_owner owns every table",
        failures,
        format!("{} tables", cat.tables.len()),
    )
}

pub(super) fn views_respect_rls(cat: &Catalog) -> CheckResult {
    let failures = cat
        .views
        .iter()
        .filter_map(
            |v| match (v.materialized, v.security_invoker, v.app_can_read) {
                (true, _, true) => Some(format!(
                    "{}: materialized view readable by pplane_app bypasses RLS",
                    v.name
                )),
                (false, false, _) => Some(format!(
                    "{}: view without security_invoker bypasses RLS",
                    v.name
                )),
                _ => None,
            },
        )
        .collect();
    CheckResult::from_failures(
        Area::MultiTenancy,
        "no view or materialized view bypasses row-level security",
        failures,
        format!("{} views", cat.views.len()),
    )
}

pub(super) fn app_least_privilege(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for t in &cat.tables {
        if cat.privilege("pplane_app", &t.name, "TRUNCATE") {
            failures.push(format!("pplane_app may TRUNCATE {}", t.name));
        }
        if !DELETABLE_TABLES.contains(&t.name.as_str())
            && cat.privilege("pplane_app", &t.name, "DELETE")
        {
            failures.push(format!("pplane_app may DELETE from {}", t.name));
        }
    }
    CheckResult::from_failures(
        Area::MultiTenancy,
        "pplane_app has DML only: no TRUNCATE, DELETE only on the outbox and LangGraph's documents",
        failures,
        "as designed",
    )
}
