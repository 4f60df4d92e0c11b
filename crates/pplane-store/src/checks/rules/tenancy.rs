//! Multi-Tenancy: row-level security, its policies, and the two roles.

use super::MEMBER_TABLES;
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
    let fenced = |expr: &Option<String>| {
        expr.as_deref()
            .is_some_and(|e| e.contains("tenant_id = current_tenant_id()"))
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
                    && fenced(&p.using_expr)
                    && fenced(&p.check_expr)
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
        "9 runtime tables",
    )
}

pub(super) fn runtime_role(cat: &Catalog) -> CheckResult {
    let failures = match cat.roles.iter().find(|r| r.name == "pplane_app") {
        None => vec!["role pplane_app does not exist".to_owned()],
        Some(r) => {
            let mut f = Vec::new();
            if r.superuser {
                f.push("pplane_app is a superuser".to_owned());
            }
            if r.bypass_rls {
                f.push("pplane_app has BYPASSRLS".to_owned());
            }
            if !r.owns.is_empty() {
                f.push(format!("pplane_app owns {}", r.owns.join(", ")));
            }
            f
        }
    };
    CheckResult::from_failures(
        Area::MultiTenancy,
        "pplane_app is not superuser, has no BYPASSRLS, owns nothing",
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
        if t.name != "outbox_events" && cat.privilege("pplane_app", &t.name, "DELETE") {
            failures.push(format!("pplane_app may DELETE from {}", t.name));
        }
    }
    CheckResult::from_failures(
        Area::MultiTenancy,
        "pplane_app has DML only: no TRUNCATE, DELETE only on the outbox",
        failures,
        "as designed",
    )
}
