//! Multi-Tenancy: row-level security, its policies, and the two roles.

use super::{DELETABLE_TABLES, DISPATCH_TABLES, MEMBER_TABLES, REFERENCE_TABLES};

/// The fence's one exception, as PostgreSQL prints it.
const DISPATCHER_EXCEPTION: &str =
    "((tenant_id = current_tenant_id()) OR (CURRENT_USER = 'pplane_dispatcher'::name))";
use crate::checks::catalog::{Catalog, Citus};
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
    if cat.citus.is_some() {
        return fences_in_every_policy(cat);
    }
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

/// The fence on Citus, which copies every policy to the shards as
/// permissive (migration 14): no restrictive policy at all, and the fence
/// inside each permissive one but the dispatcher's on its two tables.
fn fences_in_every_policy(cat: &Catalog) -> CheckResult {
    let fenced = |expr: &Option<String>| {
        expr.as_deref()
            .is_none_or(|e| e.contains("tenant_id = current_tenant_id()") && !e.contains(" OR "))
    };
    let mut failures = Vec::new();
    for t in &cat.tables {
        let policies: Vec<_> = cat
            .policies
            .iter()
            .filter(|p| p.table_name == t.name)
            .collect();
        if policies.is_empty() {
            failures.push(format!("{}: no policy", t.name));
        }
        for p in policies {
            let dispatcher =
                DISPATCH_TABLES.contains(&t.name.as_str()) && p.roles == ["pplane_dispatcher"];
            if !p.permissive {
                failures.push(format!(
                    "{}: {} is restrictive, which Citus copies to the shards as permissive",
                    t.name, p.name
                ));
            } else if !(dispatcher || fenced(&p.using_expr) && fenced(&p.check_expr)) {
                failures.push(format!("{}: {} lacks the tenant fence", t.name, p.name));
            }
        }
    }
    CheckResult::from_failures(
        Area::MultiTenancy,
        "a restrictive tenant_id = app.tenant_id fence on every table",
        failures,
        format!(
            "on Citus: the fence inside every permissive policy of {} tables, no restrictive policy",
            cat.tables.len()
        ),
    )
}

pub(super) fn membership_policies(cat: &Catalog) -> CheckResult {
    // The subquery form, or on Citus (which refuses subqueries in policies)
    // the profile's function that runs the same subquery.
    let member = |expr: &Option<String>| {
        expr.as_deref().is_some_and(|e| {
            e.contains("tenant_id = current_tenant_id()")
                && ((e.contains("user_tenants") && e.contains("current_user_id()"))
                    || (cat.member_function()
                        && e.contains("tenant_id = current_member_tenant_id()")))
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

/// On Citus: every table of the plane distributed by `tenant_id` into one
/// colocation group, so that a tenant's rows of every table share a worker
/// and each tenant-scoped statement is one task; tenants and memberships
/// copied to every node; nothing left on the coordinator alone.
pub(super) fn distribution(cat: &Catalog, citus: &Citus) -> CheckResult {
    let mut failures = Vec::new();
    let mut groups: Vec<i32> = Vec::new();
    for p in &citus.placements {
        let reference = REFERENCE_TABLES.contains(&p.table_name.as_str());
        match (p.method.as_deref(), reference) {
            (Some("n"), true) => {}
            (_, true) => failures.push(format!("{}: not a reference table", p.table_name)),
            (Some("h"), false) if p.column.as_deref() == Some("tenant_id") => {
                if let Some(g) = p.colocation.filter(|g| !groups.contains(g)) {
                    groups.push(g);
                }
            }
            (Some("h"), false) => failures.push(format!(
                "{}: distributed by {}, not tenant_id",
                p.table_name,
                p.column.as_deref().unwrap_or("?")
            )),
            (Some(m), false) => failures.push(format!("{}: distribution method {m}", p.table_name)),
            (None, false) => failures.push(format!("{}: local to the coordinator", p.table_name)),
        }
    }
    if groups.len() > 1 {
        failures.push(format!(
            "tenant tables in {} colocation groups, not one",
            groups.len()
        ));
    }
    let distributed = citus.placements.len() - REFERENCE_TABLES.len().min(citus.placements.len());
    CheckResult::from_failures(
        Area::MultiTenancy,
        "on Citus: every tenant table distributed by tenant_id and colocated, tenants and memberships reference tables",
        failures,
        format!(
            "{distributed} tables in one colocation group, {} reference tables, {} tables in all",
            REFERENCE_TABLES.len(),
            cat.tables.len()
        ),
    )
}
