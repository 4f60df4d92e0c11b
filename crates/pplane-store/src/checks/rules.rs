//! The rules of the schema gate, each a pure function of a catalog snapshot.
//! The expected model (tables, keys, cascades, state sets) is written here
//! once; docs/schema.md explains each choice.

use pplane_domain::{EffectStatus, OutboxStatus, RunStatus, StepStatus, ToolCallStatus};

use super::catalog::Catalog;
use super::{Area, CheckResult};
use crate::migrations::{verify_history, AppliedMigration, MigrationSet};
use crate::queries::debugging::DEBUG_QUERIES;

/// Every table of the contract.
pub const TABLES: [&str; 10] = [
    "tenants",
    "user_tenants",
    "signals",
    "runs",
    "steps",
    "effects",
    "tool_calls",
    "run_checkpoints",
    "orchestration_events",
    "outbox_events",
];

/// The orchestration (runtime) tables: keyed (tenant_id, id), audited.
pub const ORCHESTRATION_TABLES: [&str; 8] = [
    "signals",
    "runs",
    "steps",
    "effects",
    "tool_calls",
    "run_checkpoints",
    "orchestration_events",
    "outbox_events",
];

struct ForeignKey {
    table: &'static str,
    columns: &'static [&'static str],
    parent: &'static str,
    /// The designed ON DELETE action: r (restrict) or c (cascade).
    on_delete: &'static str,
}

const fn fk(
    table: &'static str,
    columns: &'static [&'static str],
    parent: &'static str,
    on_delete: &'static str,
) -> ForeignKey {
    ForeignKey {
        table,
        columns,
        parent,
        on_delete,
    }
}

/// The designed references. RESTRICT wherever a delete would erase history;
/// CASCADE only for memberships of a deleted tenant and the outbox entry of a
/// deleted effect.
const FOREIGN_KEYS: &[ForeignKey] = &[
    fk("user_tenants", &["tenant_id"], "tenants", "c"),
    fk("signals", &["tenant_id"], "tenants", "r"),
    fk("runs", &["tenant_id"], "tenants", "r"),
    fk("runs", &["tenant_id", "signal_id"], "signals", "r"),
    fk("steps", &["tenant_id"], "tenants", "r"),
    fk("steps", &["tenant_id", "run_id"], "runs", "r"),
    fk("effects", &["tenant_id"], "tenants", "r"),
    fk("effects", &["tenant_id", "run_id"], "runs", "r"),
    fk("effects", &["tenant_id", "step_id"], "steps", "r"),
    fk("tool_calls", &["tenant_id"], "tenants", "r"),
    fk("tool_calls", &["tenant_id", "step_id"], "steps", "r"),
    fk("run_checkpoints", &["tenant_id"], "tenants", "r"),
    fk("run_checkpoints", &["tenant_id", "run_id"], "runs", "r"),
    fk("orchestration_events", &["tenant_id"], "tenants", "r"),
    fk("outbox_events", &["tenant_id"], "tenants", "r"),
    fk(
        "outbox_events",
        &["tenant_id", "aggregate_id"],
        "effects",
        "c",
    ),
];

/// Keys that make ingestion and delivery idempotent.
const UNIQUE_KEYS: &[(&str, &[&str])] = &[
    ("signals", &["tenant_id", "source_channel", "source_id"]),
    ("outbox_events", &["tenant_id", "idempotency_key"]),
    ("effects", &["tenant_id", "idempotency_key"]),
    ("steps", &["tenant_id", "run_id", "step_index"]),
];

pub fn evaluate(
    cat: &Catalog,
    set: &MigrationSet,
    history: &[AppliedMigration],
) -> Vec<CheckResult> {
    vec![
        tables_present(cat),
        tenant_id_column(cat),
        timestamps(cat),
        updated_at_triggers(cat),
        audit_columns(cat),
        uuid_primary_keys(cat),
        foreign_keys(cat),
        status_sets(cat),
        rls_enabled_forced(cat),
        tenant_fences(cat),
        membership_policies(cat),
        runtime_role(cat),
        owner_role(cat),
        views_respect_rls(cat),
        app_least_privilege(cat),
        events_privileges(cat),
        events_triggers(cat),
        unique_keys(cat),
        effect_spec_key(cat),
        migrations_applied(set, history),
        migration_versions(set),
        migration_rollbacks(set),
        migration_atomic(set),
        debugging_indexes(cat),
    ]
}

fn tables_present(cat: &Catalog) -> CheckResult {
    let missing: Vec<String> = TABLES
        .iter()
        .filter(|t| cat.table(t).is_none())
        .map(|t| format!("{t}: missing"))
        .collect();
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "all contract tables exist",
        missing,
        "10 tables",
    )
}

fn tenant_id_column(cat: &Catalog) -> CheckResult {
    let failures = cat
        .tables
        .iter()
        .filter_map(|t| match cat.column(&t.name, "tenant_id") {
            Some(c) if c.type_name == "uuid" && c.not_null => None,
            Some(c) => Some(format!(
                "{}: tenant_id is {} {}",
                t.name,
                c.type_name,
                nullability(c.not_null)
            )),
            None => Some(format!("{}: no tenant_id", t.name)),
        })
        .collect();
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "every table has tenant_id uuid NOT NULL",
        failures,
        format!("{} tables", cat.tables.len()),
    )
}

fn timestamps(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for t in &cat.tables {
        for col in ["created_at", "updated_at"] {
            match cat.column(&t.name, col) {
                Some(c) if c.type_name == "timestamp with time zone" && c.not_null => {}
                Some(c) => failures.push(format!(
                    "{}.{col} is {} {}",
                    t.name,
                    c.type_name,
                    nullability(c.not_null)
                )),
                None => failures.push(format!("{}: no {col}", t.name)),
            }
        }
    }
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "every table has created_at, updated_at timestamptz NOT NULL",
        failures,
        format!("{} tables", cat.tables.len()),
    )
}

fn updated_at_triggers(cat: &Catalog) -> CheckResult {
    let failures = cat
        .tables
        .iter()
        .filter(|t| {
            !cat.triggers.iter().any(|g| {
                g.table_name == t.name
                    && g.name == format!("{}_updated_at", t.name)
                    && g.row_level
                    && g.before
                    && g.on_update
                    && g.enabled != "D"
            })
        })
        .map(|t| format!("{}: no enabled {}_updated_at trigger", t.name, t.name))
        .collect();
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "updated_at is kept by a trigger",
        failures,
        "on every table",
    )
}

fn audit_columns(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for t in ORCHESTRATION_TABLES {
        match cat.column(t, "correlation_id") {
            Some(c) if c.type_name == "uuid" && c.not_null => {}
            _ => failures.push(format!("{t}: correlation_id must be uuid NOT NULL")),
        }
        match cat.column(t, "causation_id") {
            Some(c) if c.type_name == "uuid" => {}
            _ => failures.push(format!("{t}: causation_id must be uuid")),
        }
        match cat.column(t, "actor") {
            Some(c) if c.base_type == "character varying(100)" && c.not_null => {
                let checked = c.domain_checked
                    || cat
                        .constraints_of(t)
                        .any(|k| k.kind == "c" && k.columns.iter().any(|col| col == "actor"));
                if !checked {
                    failures.push(format!("{t}: actor has no CHECK on its form"));
                }
            }
            _ => failures.push(format!("{t}: actor must be varchar(100) NOT NULL")),
        }
    }
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "runtime tables record correlation_id, causation_id, actor (checked form)",
        failures,
        "8 runtime tables",
    )
}

fn uuid_primary_keys(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for t in &cat.tables {
        let Some(pk) = cat.constraints_of(&t.name).find(|k| k.kind == "p") else {
            failures.push(format!("{}: no primary key", t.name));
            continue;
        };
        let non_uuid: Vec<&String> = pk
            .columns
            .iter()
            .filter(|c| cat.column(&t.name, c).map(|c| c.type_name.as_str()) != Some("uuid"))
            .collect();
        if !non_uuid.is_empty() {
            failures.push(format!(
                "{}: primary key column(s) {non_uuid:?} are not uuid",
                t.name
            ));
        }
        let expected: &[&str] = match t.name.as_str() {
            "tenants" => &["tenant_id"],
            "user_tenants" => &["tenant_id", "user_id"],
            _ => &["tenant_id", "id"],
        };
        if pk.columns != expected {
            failures.push(format!(
                "{}: primary key is ({}), expected ({})",
                t.name,
                pk.columns.join(", "),
                expected.join(", ")
            ));
        }
    }
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "uuid primary keys, tenant_id first",
        failures,
        format!("{} tables", cat.tables.len()),
    )
}

fn foreign_keys(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for want in FOREIGN_KEYS {
        let found = cat.constraints_of(want.table).find(|k| {
            k.kind == "f"
                && k.columns == want.columns
                && k.ref_table.as_deref() == Some(want.parent)
        });
        match found {
            None => failures.push(format!(
                "{}({}) -> {}: missing",
                want.table,
                want.columns.join(", "),
                want.parent
            )),
            Some(k) if k.on_delete.as_deref() != Some(want.on_delete) => failures.push(format!(
                "{}: ON DELETE {} where the design says {}",
                k.name,
                delete_action(k.on_delete.as_deref()),
                delete_action(Some(want.on_delete))
            )),
            Some(_) => {}
        }
    }
    for k in cat.constraints.iter().filter(|k| k.kind == "f") {
        if k.columns.first().map(String::as_str) != Some("tenant_id")
            || k.ref_columns.first().map(String::as_str) != Some("tenant_id")
        {
            failures.push(format!(
                "{}: not composite on tenant_id, so it could cross tenants",
                k.name
            ));
        }
    }
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "foreign keys are composite on tenant_id with the designed cascades",
        failures,
        format!("{} foreign keys", FOREIGN_KEYS.len()),
    )
}

fn status_sets(cat: &Catalog) -> CheckResult {
    let sets: [(&str, Vec<&str>); 5] = [
        ("runs", RunStatus::ALL.iter().map(|s| s.as_str()).collect()),
        (
            "steps",
            StepStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "tool_calls",
            ToolCallStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "effects",
            EffectStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
        (
            "outbox_events",
            OutboxStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
    ];
    let mut failures = Vec::new();
    for (table, want) in &sets {
        let check = cat
            .constraints_of(table)
            .find(|k| k.kind == "c" && k.columns == ["status"]);
        match check {
            None => failures.push(format!("{table}.status: no CHECK constraint")),
            Some(k) => {
                let mut got = quoted_literals(&k.definition);
                got.sort();
                let mut want = want.clone();
                want.sort();
                if got != want {
                    failures.push(format!(
                        "{}: allows {got:?}, the domain has {want:?}",
                        k.name
                    ));
                }
            }
        }
    }
    CheckResult::from_failures(
        Area::SchemaCompliance,
        "status columns are constrained to their state sets",
        failures,
        "runs, steps, tool_calls, effects, outbox_events",
    )
}

fn rls_enabled_forced(cat: &Catalog) -> CheckResult {
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

fn tenant_fences(cat: &Catalog) -> CheckResult {
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

fn membership_policies(cat: &Catalog) -> CheckResult {
    let member = |expr: &Option<String>| {
        expr.as_deref().is_some_and(|e| {
            e.contains("current_tenant_id()")
                && e.contains("user_tenants")
                && e.contains("current_user_id()")
        })
    };
    let failures = ORCHESTRATION_TABLES
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
        "8 runtime tables",
    )
}

fn runtime_role(cat: &Catalog) -> CheckResult {
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

fn owner_role(cat: &Catalog) -> CheckResult {
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

fn views_respect_rls(cat: &Catalog) -> CheckResult {
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

fn app_least_privilege(cat: &Catalog) -> CheckResult {
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

fn events_privileges(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for role in ["pplane_app", "pplane_owner"] {
        for p in ["UPDATE", "DELETE", "TRUNCATE"] {
            if cat.privilege(role, "orchestration_events", p) {
                failures.push(format!("{role} holds {p} on orchestration_events"));
            }
        }
    }
    CheckResult::from_failures(
        Area::AppendOnly,
        "no role holds UPDATE, DELETE or TRUNCATE on orchestration_events",
        failures,
        "revoked from pplane_app and pplane_owner",
    )
}

fn events_triggers(cat: &Catalog) -> CheckResult {
    let guard = |pred: &dyn Fn(&super::catalog::Trigger) -> bool| {
        cat.triggers.iter().any(|g| {
            g.table_name == "orchestration_events"
                && !g.row_level
                && g.before
                && g.enabled == "A"
                && pred(g)
        })
    };
    let mut failures = Vec::new();
    if !guard(&|g| g.on_update && g.on_delete) {
        failures.push("no ENABLE ALWAYS statement trigger rejecting UPDATE and DELETE".to_owned());
    }
    if !guard(&|g| g.on_truncate) {
        failures.push("no ENABLE ALWAYS trigger rejecting TRUNCATE".to_owned());
    }
    CheckResult::from_failures(
        Area::AppendOnly,
        "triggers reject UPDATE, DELETE and TRUNCATE on orchestration_events",
        failures,
        "statement-level, ENABLE ALWAYS",
    )
}

fn unique_keys(cat: &Catalog) -> CheckResult {
    let failures = UNIQUE_KEYS
        .iter()
        .filter(|(table, cols)| {
            !cat.indexes.iter().any(|i| {
                i.table_name == *table && i.unique && i.valid && !i.partial && i.columns == *cols
            })
        })
        .map(|(table, cols)| format!("{table}: no UNIQUE ({})", cols.join(", ")))
        .collect();
    CheckResult::from_failures(
        Area::Idempotency,
        "unique keys on signals, outbox and effect idempotency keys, step order",
        failures,
        UNIQUE_KEYS
            .iter()
            .map(|(t, c)| format!("{t}({})", c.join(", ")))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn effect_spec_key(cat: &Catalog) -> CheckResult {
    let ok = cat.constraints_of("effects").any(|k| {
        k.kind == "c"
            && k.definition.contains("effect_spec")
            && k.definition.contains("idempotency_key")
    });
    let failures = if ok {
        Vec::new()
    } else {
        vec!["effects: no CHECK that effect_spec carries idempotency_key".to_owned()]
    };
    CheckResult::from_failures(
        Area::Idempotency,
        "effect specs include their idempotency_key",
        failures,
        "effects_spec_carries_key",
    )
}

fn migrations_applied(set: &MigrationSet, history: &[AppliedMigration]) -> CheckResult {
    let mut failures = Vec::new();
    if let Err(err) = verify_history(set, history) {
        failures.push(err.to_string());
    }
    for m in &set.migrations {
        if !history.iter().any(|a| a.version == m.version) {
            failures.push(format!("{} ({}) is not applied", m.version, m.description));
        }
    }
    CheckResult::from_failures(
        Area::Migrations,
        "every migration applied, none edited, none unknown",
        failures,
        format!("{} applied", history.len()),
    )
}

fn migration_versions(set: &MigrationSet) -> CheckResult {
    let failures = set
        .migrations
        .iter()
        .filter(|m| !is_timestamp_version(m.version))
        .map(|m| format!("{} is not YYYYMMDDHHMMSS", m.version))
        .collect();
    CheckResult::from_failures(
        Area::Migrations,
        "versions are YYYYMMDDHHMMSS",
        failures,
        format!("{} versions", set.migrations.len()),
    )
}

fn migration_rollbacks(set: &MigrationSet) -> CheckResult {
    let failures = set
        .migrations
        .iter()
        .filter(|m| m.down.as_deref().is_none_or(|d| d.trim().is_empty()))
        .map(|m| format!("{} ({}) has no rollback script", m.version, m.description))
        .collect();
    CheckResult::from_failures(
        Area::Migrations,
        "each migration has a rollback script",
        failures,
        format!("{} .down.sql", set.migrations.len()),
    )
}

fn migration_atomic(set: &MigrationSet) -> CheckResult {
    let failures = set
        .migrations
        .iter()
        .filter(|m| m.no_tx)
        .map(|m| {
            format!(
                "{} ({}) opts out of its transaction",
                m.version, m.description
            )
        })
        .collect();
    CheckResult::from_failures(
        Area::Migrations,
        "each migration is atomic (one transaction)",
        failures,
        "all transactional",
    )
}

fn debugging_indexes(cat: &Catalog) -> CheckResult {
    let mut failures = Vec::new();
    for q in DEBUG_QUERIES {
        for need in q.needs {
            let served = cat.indexes.iter().any(|i| {
                i.table_name == need.table
                    && i.valid
                    && !i.partial
                    && i.columns.len() >= need.columns.len()
                    && i.columns[..need.columns.len()] == *need.columns
            });
            if !served {
                failures.push(format!(
                    "{}: no index on {}({})",
                    q.name,
                    need.table,
                    need.columns.join(", ")
                ));
            }
        }
    }
    CheckResult::from_failures(
        Area::Performance,
        "indexes serve every query of the debugging procedure",
        failures,
        format!("{} queries", DEBUG_QUERIES.len()),
    )
}

fn nullability(not_null: bool) -> &'static str {
    if not_null {
        "NOT NULL"
    } else {
        "NULL"
    }
}

fn delete_action(code: Option<&str>) -> &'static str {
    match code {
        Some("c") => "CASCADE",
        Some("r") => "RESTRICT",
        Some("n") => "SET NULL",
        Some("d") => "SET DEFAULT",
        _ => "NO ACTION",
    }
}

/// The single-quoted literals of a constraint definition, e.g. the values of
/// `CHECK (status IN ('PENDING', ...))` as PostgreSQL prints it back.
fn quoted_literals(definition: &str) -> Vec<String> {
    definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// 14 digits that read as a real date and time.
fn is_timestamp_version(version: i64) -> bool {
    let s = version.to_string();
    if s.len() != 14 {
        return false;
    }
    let part = |a: usize, b: usize| s[a..b].parse::<u32>().unwrap_or(99);
    (1..=12).contains(&part(4, 6))
        && (1..=31).contains(&part(6, 8))
        && part(8, 10) < 24
        && part(10, 12) < 60
        && part(12, 14) < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_values_of_a_check_constraint() {
        let def = "CHECK (((status)::text = ANY ((ARRAY['PENDING'::character varying, 'DONE'::character varying])::text[])))";
        assert_eq!(quoted_literals(def), ["PENDING", "DONE"]);
    }

    #[test]
    fn versions_must_be_timestamps() {
        assert!(is_timestamp_version(20260104000001));
        assert!(!is_timestamp_version(1));
        assert!(!is_timestamp_version(20261304000001), "month 13");
    }
}
