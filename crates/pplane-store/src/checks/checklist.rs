//! The walkthrough's two checklists, item by item (section 6, the gate
//! before a deploy; section 9, the exit conditions for production): each
//! answered from the gate items that give its evidence, so that no item
//! goes missing from the report. An item FAILs when any of its evidence
//! fails, PASSes when some passes and none fails, and is NOT APPLICABLE
//! with the reason when the gate cannot observe it.

use std::path::Path;

use super::gate::{GateItem, Verdict};

/// Where a checklist item's answer comes from.
enum By {
    /// Gate items whose name starts with one of these.
    Items(&'static [&'static str]),
    /// Every gate item of these sections.
    Sections(&'static [&'static str]),
    /// Files of the source checkout: all present is a PASS.
    Files(&'static [&'static str]),
    /// Nothing the gate can observe on a live database: where it is
    /// enforced and tested instead.
    Elsewhere(&'static str),
}

struct Entry {
    section: &'static str,
    item: &'static str,
    by: By,
}

const fn entry(section: &'static str, item: &'static str, by: By) -> Entry {
    Entry { section, item, by }
}

const S6: &str = "Checklist 6: production gate";
const S9: &str = "Checklist 9: production-ready criteria";

const SCHEMA_GATE: &[&str] = &[
    "6 Schema Compliance",
    "6 Multi-Tenancy",
    "6 Append-Only",
    "6 Idempotency",
    "6 Migrations",
];

const CHECKLIST: &[Entry] = &[
    // Section 6: schema.
    entry(S6, "schema: tenant_id uuid NOT NULL on every table", By::Items(&["every table has tenant_id"])),
    entry(S6, "schema: created_at and updated_at timestamptz on every table", By::Items(&["every table has created_at", "updated_at is kept"])),
    entry(S6, "schema: correlation_id, causation_id and actor on the audit tables", By::Items(&["runtime tables record"])),
    entry(S6, "schema: uuid primary keys", By::Items(&["uuid primary keys"])),
    entry(S6, "schema: foreign keys with deliberate cascades", By::Items(&["foreign keys are composite"])),
    entry(S6, "schema: unique constraints on idempotency keys", By::Items(&["unique keys on signals"])),
    // Multi-tenancy.
    entry(S6, "multi-tenancy: row-level security on every table", By::Items(&["row-level security enabled"])),
    entry(S6, "multi-tenancy: the policies isolate tenants", By::Items(&["a restrictive tenant_id", "reads and writes need membership"])),
    entry(S6, "multi-tenancy: the application layer checks tenant_id", By::Items(&["live probe: inserts carrying", "no direct database access"])),
    entry(S6, "multi-tenancy: a cross-tenant query returns no rows", By::Items(&["live probe: tenant A reads none", "live probe: a non-member"])),
    // Append-only.
    entry(S6, "append-only: no UPDATE or DELETE on orchestration_events", By::Sections(&["6 Append-Only"])),
    entry(S6, "append-only: the event repository only appends", By::Items(&["no direct database access", "no role holds UPDATE"])),
    entry(S6, "append-only: every state change emits its event", By::Items(&["each status is what its last event implies", "retry counters equal"])),
    // Idempotency.
    entry(S6, "idempotency: signals unique per tenant, channel and source id", By::Items(&["unique keys on signals"])),
    entry(S6, "idempotency: outbox entries unique per tenant and key", By::Items(&["unique keys on signals"])),
    entry(S6, "idempotency: effect specs carry an idempotency_key", By::Items(&["effect specs include"])),
    // Outbox.
    entry(S6, "outbox: entries inserted in the transaction of their effect", By::Items(&["every outbox entry has its effect"])),
    entry(S6, "outbox: a worker takes due entries", By::Items(&["a partial index serves the outbox", "the outbox is drained"])),
    entry(S6, "outbox: retries back off exponentially", By::Elsewhere(
        "a worker's behaviour, not the database's: pplane_domain::delivery::Backoff (2 s doubling to a cap, \
         with jitter and Retry-After), specified by crates/pplane-worker/tests/worker/")),
    entry(S6, "outbox: dead letters are handled", By::Items(&["status columns are constrained", "runbooks documented"])),
    // Traceability.
    entry(S6, "traceability: correlation_id on every entity", By::Items(&["runtime tables record", "causation stays in its tenant"])),
    entry(S6, "traceability: every event records its actor", By::Items(&["runtime tables record"])),
    entry(S6, "traceability: every event but a root records its causation", By::Items(&["each correlation has exactly one root", "causation stays in its tenant"])),
    entry(S6, "traceability: the trace reconstructs a whole run", By::Items(&["uses an index: reconstruct", "each correlation has exactly one root"])),
    // Migrations.
    entry(S6, "migrations: versioned YYYYMMDDHHMMSS", By::Items(&["versions are YYYYMMDDHHMMSS"])),
    entry(S6, "migrations: each has a rollback", By::Items(&["each migration has a rollback"])),
    entry(S6, "migrations: tested before production", By::Items(&["migrations are reversible"])),
    entry(S6, "migrations: atomic", By::Items(&["each migration is atomic"])),
    // CI.
    entry(S6, "CI: the schema validation runs in CI", By::Files(&[".ci/run", "scripts/test", "crates/pplane-store/tests/store/check_schema.rs"])),
    entry(S6, "CI: the data-quality checks run in CI", By::Files(&[".ci/run", "scripts/test", "crates/pplane-store/tests/store/check_data.rs"])),
    entry(S6, "CI: schema linting passes", By::Sections(&["6 Schema Compliance"])),
    entry(S6, "CI: no direct database access in feature code", By::Items(&["no direct database access"])),
    // Section 9.
    entry(S9, "schema validation: the schema gate passes", By::Sections(SCHEMA_GATE)),
    entry(S9, "schema validation: mandatory columns present", By::Items(&["every table has tenant_id", "every table has created_at", "runtime tables record"])),
    entry(S9, "schema validation: row-level security enabled and tested", By::Items(&["row-level security enabled", "live probe:"])),
    entry(S9, "schema validation: foreign keys enforce integrity", By::Items(&["foreign keys are composite", "every outbox entry has its effect"])),
    entry(S9, "data quality: the data gate passes", By::Sections(&["9 Data Quality"])),
    entry(S9, "data quality: no orphaned records", By::Items(&["every event's aggregate exists", "every outbox entry has its effect"])),
    entry(S9, "data quality: no inconsistent counters", By::Items(&["retry counters equal", "projected step totals", "each tenant's pending-effect counts", "each tenant's log is gap-free"])),
    entry(S9, "data quality: backup and restore verified within 30 days", By::Items(&["a backup was verified in the last 30 days"])),
    entry(S9, "abstraction: the persistence layer's checks pass", By::Items(&["no direct database access", "live probe:"])),
    entry(S9, "abstraction: no direct database access in feature code", By::Items(&["no direct database access"])),
    entry(S9, "abstraction: repositories enforce tenant isolation", By::Items(&["a restrictive tenant_id", "live probe: tenant A reads none"])),
    entry(S9, "abstraction: events append-only", By::Sections(&["6 Append-Only"])),
    entry(S9, "idempotency: duplicate signals rejected", By::Items(&["unique keys on signals"])),
    entry(S9, "idempotency: duplicate outbox entries ignored", By::Items(&["unique keys on signals"])),
    entry(S9, "idempotency: effect execution idempotent", By::Items(&["effect specs include"])),
    entry(S9, "traceability: every entity has correlation_id", By::Items(&["runtime tables record"])),
    entry(S9, "traceability: every event has actor and causation_id", By::Items(&["runtime tables record", "each correlation has exactly one root"])),
    entry(S9, "traceability: the whole trace reconstructable", By::Items(&["uses an index: reconstruct"])),
    entry(S9, "operational readiness: migrations reversible", By::Items(&["migrations are reversible"])),
    entry(S9, "operational readiness: cleanup jobs automated", By::Items(&["cleanup jobs automated"])),
    entry(S9, "operational readiness: monitoring dashboards active", By::Items(&["monitoring dashboards active"])),
    entry(S9, "operational readiness: runbooks documented", By::Items(&["runbooks documented"])),
    entry(S9, "performance: common queries use indexes", By::Items(&["uses an index:"])),
    entry(S9, "performance: query response time under target (p95)", By::Items(&["query response time"])),
    entry(S9, "performance: event append latency under target (p99)", By::Items(&["event append latency"])),
];

/// Each checklist item answered from `items` (the gate's own) and, for the
/// CI items, the checkout at `workspace`.
pub(super) fn checklist(items: &[GateItem], workspace: Option<&Path>) -> Vec<GateItem> {
    CHECKLIST
        .iter()
        .map(|e| {
            let (verdict, evidence) = match &e.by {
                By::Items(names) => from(
                    items
                        .iter()
                        .filter(|i| names.iter().any(|n| i.item.starts_with(n))),
                ),
                By::Sections(sections) => from(
                    items
                        .iter()
                        .filter(|i| sections.contains(&i.section.as_str())),
                ),
                By::Files(files) => present(files, workspace),
                By::Elsewhere(why) => (Verdict::NotApplicable, (*why).to_owned()),
            };
            GateItem {
                section: e.section.into(),
                item: e.item.into(),
                verdict,
                evidence,
            }
        })
        .collect()
}

/// Any FAIL fails; else any PASS passes; else not applicable. The evidence
/// names the items that decided it.
fn from<'a>(answers: impl Iterator<Item = &'a GateItem>) -> (Verdict, String) {
    let answers: Vec<&GateItem> = answers.collect();
    let with = |v: Verdict| -> Vec<&str> {
        answers
            .iter()
            .filter(|i| i.verdict == v)
            .map(|i| i.item.as_str())
            .collect()
    };
    let (failed, passed) = (with(Verdict::Fail), with(Verdict::Pass));
    let list = |names: &[&str]| match names {
        [one] => format!("\"{one}\""),
        [first, rest @ ..] => format!("\"{first}\" and {} more", rest.len()),
        [] => String::new(),
    };
    if answers.is_empty() {
        (Verdict::Fail, "no gate item answered it".into())
    } else if !failed.is_empty() {
        (Verdict::Fail, format!("FAIL: {}", list(&failed)))
    } else if !passed.is_empty() {
        (Verdict::Pass, format!("PASS: {}", list(&passed)))
    } else {
        let why = answers.first().map_or("", |i| i.evidence.as_str());
        (Verdict::NotApplicable, why.to_owned())
    }
}

fn present(files: &[&str], workspace: Option<&Path>) -> (Verdict, String) {
    let Some(root) = workspace.filter(|w| w.join("Cargo.toml").is_file()) else {
        return (
            Verdict::NotApplicable,
            "not run from a source checkout: CI is the repository's".into(),
        );
    };
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| !root.join(f).is_file())
        .collect();
    if missing.is_empty() {
        (
            Verdict::Pass,
            format!(
                "CI (.ci/run) runs scripts/test, every suite: {}",
                files.join(", ")
            ),
        )
    } else {
        (Verdict::Fail, format!("missing: {}", missing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(item: &str, verdict: Verdict) -> GateItem {
        GateItem {
            section: "6 Schema Compliance".into(),
            item: item.into(),
            verdict,
            evidence: format!("{item}: evidence"),
        }
    }

    #[test]
    fn a_fail_anywhere_fails_a_pass_passes_and_nothing_is_not_applicable() {
        let items = [
            gate("uses an index: a", Verdict::Pass),
            gate("uses an index: b", Verdict::Fail),
            gate("monitoring dashboards active: files", Verdict::Pass),
            gate(
                "monitoring dashboards active: scraped",
                Verdict::NotApplicable,
            ),
        ];
        let (v, e) = from(items[..2].iter());
        assert_eq!(
            (v, e.as_str()),
            (Verdict::Fail, "FAIL: \"uses an index: b\"")
        );
        let (v, _) = from(items[2..].iter());
        assert_eq!(v, Verdict::Pass);
        let (v, e) = from(items[3..].iter());
        assert_eq!(
            (v, e.as_str()),
            (
                Verdict::NotApplicable,
                "monitoring dashboards active: scraped: evidence"
            )
        );
        assert_eq!(
            from([].iter()).0,
            Verdict::Fail,
            "an unanswered item is a gap"
        );
    }

    #[test]
    fn every_item_of_both_checklists_is_listed_once() {
        let mut names: Vec<&str> = CHECKLIST.iter().map(|e| e.item).collect();
        assert_eq!(CHECKLIST.iter().filter(|e| e.section == S6).count(), 32);
        assert_eq!(CHECKLIST.iter().filter(|e| e.section == S9).count(), 25);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CHECKLIST.len());
    }
}
