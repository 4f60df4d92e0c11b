//! Append-Only, Idempotency, Migrations and Performance.

use super::UNIQUE_KEYS;
use crate::checks::catalog::{Catalog, Trigger};
use crate::checks::{Area, CheckResult};
use crate::migrations::{verify_history, AppliedMigration, MigrationSet};
use crate::queries::debugging::DEBUG_QUERIES;

pub(super) fn events_privileges(cat: &Catalog) -> CheckResult {
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

pub(super) fn events_triggers(cat: &Catalog) -> CheckResult {
    let guard = |pred: &dyn Fn(&Trigger) -> bool| {
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

pub(super) fn unique_keys(cat: &Catalog) -> CheckResult {
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

pub(super) fn effect_spec_key(cat: &Catalog) -> CheckResult {
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

pub(super) fn migrations_applied(set: &MigrationSet, history: &[AppliedMigration]) -> CheckResult {
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

pub(super) fn migration_versions(set: &MigrationSet) -> CheckResult {
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

pub(super) fn migration_rollbacks(set: &MigrationSet) -> CheckResult {
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

pub(super) fn migration_atomic(set: &MigrationSet) -> CheckResult {
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

pub(super) fn debugging_indexes(cat: &Catalog) -> CheckResult {
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

/// 14 digits that read as a real date and time.
pub(super) fn is_timestamp_version(version: i64) -> bool {
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

/// The worker's claim walks the tenants with open entries and reads each
/// one's open entries by due time: a partial index on `(tenant_id,
/// available_at)` over open entries keeps it from scanning delivered
/// history or a tenant's whole backlog.
pub(super) fn outbox_claim_index(cat: &Catalog) -> CheckResult {
    let served = cat.indexes.iter().any(|i| {
        i.table_name == "outbox_events"
            && i.valid
            && i.partial
            && i.columns.len() >= 2
            && i.columns[..2] == ["tenant_id", "available_at"]
    });
    let failures = if served {
        Vec::new()
    } else {
        vec![
            "outbox_events: no partial index on (tenant_id, available_at) for open entries"
                .to_owned(),
        ]
    };
    CheckResult::from_failures(
        Area::Performance,
        "a partial index serves the outbox worker's claim",
        failures,
        "outbox_events_tenant_due_idx",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_be_timestamps() {
        assert!(is_timestamp_version(20260104000001));
        assert!(!is_timestamp_version(1));
        assert!(!is_timestamp_version(20261304000001), "month 13");
    }
}
