//! Schema Compliance: the columns, keys, cascades and state sets of section 6.

use pplane_domain::{EffectStatus, OutboxStatus, RunStatus, StepStatus, ToolCallStatus};

use super::{FOREIGN_KEYS, ORCHESTRATION_TABLES, TABLES};
use crate::checks::catalog::Catalog;
use crate::checks::{Area, CheckResult};

pub(super) fn tables_present(cat: &Catalog) -> CheckResult {
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

pub(super) fn tenant_id_column(cat: &Catalog) -> CheckResult {
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

pub(super) fn timestamps(cat: &Catalog) -> CheckResult {
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

pub(super) fn updated_at_triggers(cat: &Catalog) -> CheckResult {
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

pub(super) fn audit_columns(cat: &Catalog) -> CheckResult {
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

pub(super) fn uuid_primary_keys(cat: &Catalog) -> CheckResult {
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
            "tenants" | "tenant_event_heads" => &["tenant_id"],
            "user_tenants" => &["tenant_id", "user_id"],
            // A projection is keyed by what it projects.
            "run_summary" => &["tenant_id", "run_id"],
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

pub(super) fn foreign_keys(cat: &Catalog) -> CheckResult {
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

pub(super) fn status_sets(cat: &Catalog) -> CheckResult {
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

pub(super) fn nullability(not_null: bool) -> &'static str {
    if not_null {
        "NOT NULL"
    } else {
        "NULL"
    }
}

pub(super) fn delete_action(code: Option<&str>) -> &'static str {
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
pub(super) fn quoted_literals(definition: &str) -> Vec<String> {
    definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_values_of_a_check_constraint() {
        let def = "CHECK (((status)::text = ANY ((ARRAY['PENDING'::character varying, 'DONE'::character varying])::text[])))";
        assert_eq!(quoted_literals(def), ["PENDING", "DONE"]);
    }
}
