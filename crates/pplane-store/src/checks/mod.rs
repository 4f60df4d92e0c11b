//! `pplane check schema`: the walkthrough's schema validation (the role its
//! FIT-ORCH-SCHEMA-001 plays) and the catalog-checkable items of the DBA-AI
//! production gate (section 6), run against a live database.
//!
//! The catalog is read once ([`catalog`]), every rule is a pure function over
//! that snapshot ([`rules`]), and a live probe ([`probe`]) then proves the
//! isolation and append-only rules by trying to break them inside a
//! transaction that is always rolled back. Each result carries evidence, so a
//! FAIL says which table and which rule.
//!
//! [`data`] is `pplane check data`: the same report shape over the rows
//! themselves. [`gate`] is `pplane check all`: both, plus query plans, live
//! migration reversal, the dependency graph and a verified backup;
//! [`backup`] proves a backup restores (the gate's item and the scheduled
//! job); `readiness` adds the latencies measured now, the scheduled jobs,
//! the runbooks and the monitoring files, and `checklist` answers every item
//! of the walkthrough's sections 6 and 9 from all of them.

pub mod backup;
pub mod catalog;
mod checklist;
pub mod data;
pub mod gate;
pub mod probe;
mod readiness;
pub mod rules;

use serde::Serialize;

use crate::migrations::{migration_history, MigrationError, MigrationSet};
use crate::{Admin, Result};

/// The production gate's groups, in the walkthrough's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Area {
    #[serde(rename = "Schema Compliance")]
    SchemaCompliance,
    #[serde(rename = "Multi-Tenancy")]
    MultiTenancy,
    #[serde(rename = "Append-Only")]
    AppendOnly,
    #[serde(rename = "Idempotency")]
    Idempotency,
    #[serde(rename = "Migrations")]
    Migrations,
    #[serde(rename = "Performance")]
    Performance,
    #[serde(rename = "Data Quality")]
    DataQuality,
}

impl Area {
    pub fn label(self) -> &'static str {
        match self {
            Area::SchemaCompliance => "Schema Compliance",
            Area::MultiTenancy => "Multi-Tenancy",
            Area::AppendOnly => "Append-Only",
            Area::Idempotency => "Idempotency",
            Area::Migrations => "Migrations",
            Area::Performance => "Performance",
            Area::DataQuality => "Data Quality",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub area: Area,
    pub check: String,
    pub passed: bool,
    pub evidence: String,
}

impl CheckResult {
    /// PASS when `failures` is empty; otherwise FAIL naming each of them.
    pub fn from_failures(
        area: Area,
        check: impl Into<String>,
        failures: Vec<String>,
        ok: impl Into<String>,
    ) -> Self {
        let passed = failures.is_empty();
        CheckResult {
            area,
            check: check.into(),
            passed,
            evidence: if passed {
                ok.into()
            } else {
                failures.join("; ")
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| !r.passed)
    }
}

/// Runs every schema check against the database the admin connection is on.
/// A database that was never migrated is an error that says to migrate; one
/// that is behind, edited or newer is reported as a failed check.
pub async fn schema_check(admin: &mut Admin, set: &MigrationSet) -> Result<CheckReport> {
    let conn = admin.conn();
    let history = migration_history(conn).await?;
    if history.is_empty() {
        return Err(MigrationError::NotMigrated.into());
    }
    let snapshot = catalog::Catalog::load(conn).await?;
    let mut results = rules::evaluate(&snapshot, set, &history);
    results.extend(probe::run(conn).await);
    // Group by area, in the production gate's order; the sort is stable.
    results.sort_by_key(|r| r.area as u8);
    Ok(CheckReport { results })
}
