//! `pplane check all`: the DBA-AI production gate (walkthrough sections 6
//! and 9) as one report. Every item is PASS, FAIL or NOT APPLICABLE, with its
//! evidence: the schema gate and the data gate, each debugging query's plan,
//! migrations reversed and replayed on a scratch database, the dependency
//! graph, and a backup restored and checked.
//!
//! It runs as the login, which must see every tenant (a superuser or a
//! BYPASSRLS operator) and be allowed to create databases for its scratch
//! work; every scratch database is dropped before it returns.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::catalog::Catalog;
use super::data::data_check;
use super::schema_check;
use super::{backup, checklist, readiness};
use crate::admin::ScratchDb;
use crate::queries::debugging::{DebugParam, IndexNeed, DEBUG_QUERIES};
use crate::{Admin, MigrationSet, Profile, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "NOT APPLICABLE")]
    NotApplicable,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotApplicable => "NOT APPLICABLE",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GateItem {
    pub section: String,
    pub item: String,
    pub verdict: Verdict,
    pub evidence: String,
}

#[derive(Debug, Clone)]
pub struct GateOptions {
    /// A source checkout whose dependency graph to inspect (NOT APPLICABLE
    /// without one).
    pub workspace: Option<PathBuf>,
    /// Dump, restore and check now; without it, only the date of the last
    /// recorded verification is judged.
    pub verify_backup: bool,
    /// The latencies the plane is held to.
    pub targets: Targets,
}

impl GateOptions {
    /// Run from the current directory (the checkout, if it is one).
    pub fn here(verify_backup: bool) -> GateOptions {
        GateOptions {
            workspace: std::env::current_dir().ok(),
            verify_backup,
            targets: Targets::default(),
        }
    }
}

/// Section 9's latency targets: the walkthrough's by default; an operator
/// may hold the plane to tighter ones (`check all --query-p95-ms 50`).
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub query_p95_ms: f64,
    pub append_p99_ms: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            query_p95_ms: 100.0,
            append_p99_ms: 10.0,
        }
    }
}

pub async fn production_gate(url: &str, opts: &GateOptions) -> Result<Vec<GateItem>> {
    let set = MigrationSet::embedded();
    let mut items = Vec::new();
    let mut admin = Admin::connect(url).await?;
    admin.schema_verify().await?;
    for r in schema_check(&mut admin, &set).await?.results {
        items.push(item(
            &format!("6 {}", r.area.label()),
            &r.check,
            r.passed,
            r.evidence,
        ));
    }
    for r in data_check(&mut admin).await?.results {
        items.push(item("9 Data Quality", &r.check, r.passed, r.evidence));
    }
    items.extend(query_plans(admin.conn()).await?);
    let sample = sample_load(admin.conn()).await?;
    items.push(readiness::query_latency(admin.conn(), sample.as_ref(), opts.targets).await?);
    items.push(readiness::jobs_automated(admin.conn()).await?);
    items.push(readiness::outbox_drained(admin.conn()).await?);
    admin.close().await?;
    items.push(readiness::append_latency(url, opts.targets).await?);
    items.push(migrations_reversible(url, &set).await?);
    items.push(dependency_graph(opts.workspace.as_deref()));
    items.push(readiness::runbooks_documented(opts.workspace.as_deref()));
    items.extend(readiness::monitoring(opts.workspace.as_deref()));
    if opts.verify_backup {
        items.push(backup::backup_verify(url).await?.item);
    }
    items.push(backup::backup_recent(url).await?);
    // One table a section in the report: items of a section come from
    // several places (the schema gate, the plans, the live reversal).
    items.sort_by(|a, b| a.section.cmp(&b.section));
    let answered = checklist::checklist(&items, opts.workspace.as_deref());
    items.extend(answered);
    Ok(items)
}

/// Section 9's operational items alone (the scheduled jobs, the outbox's
/// drain, the runbooks and the monitoring files of `workspace`): what an
/// operator re-checks after fixing one, without the gate's scratch work.
pub async fn readiness_items(admin: &mut Admin, workspace: Option<&Path>) -> Result<Vec<GateItem>> {
    admin.schema_verify().await?;
    let mut items = vec![
        readiness::jobs_automated(admin.conn()).await?,
        readiness::outbox_drained(admin.conn()).await?,
        readiness::runbooks_documented(workspace),
    ];
    items.extend(readiness::monitoring(workspace));
    Ok(items)
}

pub(super) fn item(section: &str, name: &str, passed: bool, evidence: String) -> GateItem {
    GateItem {
        section: section.into(),
        item: name.into(),
        verdict: if passed { Verdict::Pass } else { Verdict::Fail },
        evidence,
    }
}

/// Ids to plan the debugging queries with: the newest run and its kin.
#[derive(sqlx::FromRow)]
pub(super) struct Sample {
    pub tenant: Uuid,
    pub correlation: Uuid,
    pub run: Uuid,
    pub step: Option<Uuid>,
    pub effect: Option<Uuid>,
    pub outbox: Option<Uuid>,
    pub principal: Uuid,
}

/// The newest run and, from its tenant, a step of it, an effect, an outbox
/// entry. Two statements, the second within the run's tenant: on Citus a
/// subquery correlated across shards would need a repartition join.
pub(super) async fn sample_load(conn: &mut PgConnection) -> Result<Option<Sample>> {
    let newest: Option<(Uuid, Uuid, Uuid)> =
        sqlx::query_as("SELECT tenant_id, correlation_id, id FROM runs ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let Some((tenant, correlation, run)) = newest else {
        return Ok(None);
    };
    let (step, effect, outbox): (Option<Uuid>, Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "SELECT (SELECT id FROM steps WHERE tenant_id = $1 AND run_id = $2 LIMIT 1),
                (SELECT id FROM effects WHERE tenant_id = $1 LIMIT 1),
                (SELECT id FROM outbox_events WHERE tenant_id = $1 LIMIT 1)",
    )
    .bind(tenant)
    .bind(run)
    .fetch_one(&mut *conn)
    .await?;
    let principal = sqlx::query_scalar("SELECT delivery_principal FROM pplane_meta.plane")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Some(Sample {
        tenant,
        correlation,
        run,
        step,
        effect,
        outbox,
        principal,
    }))
}

/// The "uses an index" items alone: each debugging query's plan against
/// the data of the database the admin connection is on.
pub async fn debugging_plans(admin: &mut Admin) -> Result<Vec<GateItem>> {
    admin.schema_verify().await?;
    query_plans(admin.conn()).await
}

/// Each debugging query planned against the live data, as pplane_app in the
/// tenant of the newest run (row-level security adds the tenant filter the
/// indexes lead with).
///
/// Every index a query needs must exist and be valid, at any size: a missing
/// one fails the item. The plan is made with sequential scans discouraged,
/// because on a table of a few dozen rows the planner rightly reads the whole
/// table, which says nothing about how the query fares at scale. With rows
/// enough for the planner's choice to mean something ([`PLAN_ROWS`]) it must
/// also choose a needed index; below that, several indexes cost the same to
/// it, its pick among them is a tie, and the evidence says which it took.
async fn query_plans(conn: &mut PgConnection) -> Result<Vec<GateItem>> {
    let sample = sample_load(conn).await?;
    let section = "6 Performance";
    let Some(Sample {
        tenant,
        correlation,
        run,
        step,
        effect,
        outbox,
        principal,
    }) = sample
    else {
        return Ok(vec![GateItem {
            section: section.into(),
            item: "common queries use indexes (EXPLAIN)".into(),
            verdict: Verdict::NotApplicable,
            evidence: "no runs to plan against".into(),
        }]);
    };
    let catalog = Catalog::load(&mut *conn).await?;
    let citus = catalog.citus.is_some();
    // Exact counts: statistics may not exist yet on a young database.
    let mut sizes = std::collections::HashMap::new();
    for need in DEBUG_QUERIES.iter().flat_map(|q| q.needs) {
        if !sizes.contains_key(need.table) {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", need.table))
                .fetch_one(&mut *conn)
                .await?;
            sizes.insert(need.table, n);
        }
    }
    let mut items = Vec::new();
    for q in DEBUG_QUERIES {
        let id = match q.param {
            DebugParam::CorrelationId => Some(correlation),
            DebugParam::RunId => Some(run),
            DebugParam::StepId => step,
            DebugParam::EffectId => effect,
            DebugParam::OutboxId => outbox,
        };
        let name = format!("uses an index: {}", q.name);
        let Some(id) = id else {
            items.push(GateItem {
                section: section.into(),
                item: name,
                verdict: Verdict::NotApplicable,
                evidence: "no row of that kind to plan against".into(),
            });
            continue;
        };
        let mut tx = conn.begin().await?;
        if citus {
            sqlx::raw_sql(super::probe::PROPAGATE)
                .execute(&mut *tx)
                .await?;
        }
        // The role by a query of its own: on Citus, a SET LOCAL ROLE in the
        // text Citus replays on later connections would be refused there
        // (context.rs).
        let profile = if citus {
            Profile::Citus
        } else {
            Profile::SingleNode
        };
        sqlx::raw_sql(&profile.role_statement("pplane_app"))
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(&format!(
            "SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{principal}';
             SET LOCAL enable_seqscan = off"
        ))
        .execute(&mut *tx)
        .await?;
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN {}",
            (if citus { q.routed } else { q.sql })
                .replace("$1", &format!("'{id}'::uuid"))
                .replace("$2", &format!("'{tenant}'::uuid"))
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        if citus {
            let (passed, evidence) = router_verdict(&plan);
            items.push(item(
                section,
                &format!("routes to one shard: {}", q.name),
                passed,
                evidence,
            ));
        }
        let (passed, evidence) = plan_verdict(&catalog, q.needs, &plan, &sizes);
        items.push(item(section, &name, passed, evidence));
    }
    Ok(items)
}

/// On Citus: a tenant-scoped statement is one task, on the tenant's worker
/// (Citus's plan says `Task Count: 1`); more tasks means it fans out to
/// every shard, the tenant filter not reaching the distribution column.
fn router_verdict(plan: &[String]) -> (bool, String) {
    let counts: Vec<&str> = plan
        .iter()
        .filter_map(|l| l.trim().strip_prefix("Task Count: "))
        .collect();
    match counts.as_slice() {
        [] => (
            false,
            "no distributed plan: the query ran on the coordinator".into(),
        ),
        all if all.iter().all(|c| *c == "1") => (
            true,
            format!("{} distributed step(s), each Task Count: 1", all.len()),
        ),
        all => (false, format!("Task Count: {}", all.join(", "))),
    }
}

/// Rows from which the planner's choice among indexes is judged.
pub const PLAN_ROWS: i64 = 1000;

/// Whether each index need of a query is met by a valid index, used by the
/// plan where the table is large enough for that to be the planner's real
/// choice; the evidence is the plan lines that use them, or what is missing.
fn plan_verdict(
    catalog: &Catalog,
    needs: &[IndexNeed],
    plan: &[String],
    sizes: &std::collections::HashMap<&str, i64>,
) -> (bool, String) {
    let mut evidence = Vec::new();
    let mut missing = Vec::new();
    for need in needs {
        let serving: Vec<&str> = catalog
            .indexes
            .iter()
            .filter(|i| {
                i.valid
                    && !i.partial
                    && i.table_name == need.table
                    && i.columns.len() >= need.columns.len()
                    && i.columns[..need.columns.len()] == *need.columns
            })
            .map(|i| i.name.as_str())
            .collect();
        let wanted = format!("{} ({})", need.table, need.columns.join(", "));
        if serving.is_empty() {
            missing.push(format!("no valid index on {wanted}"));
            continue;
        }
        // EXPLAIN names an index as a word of its own: "using NAME on TABLE".
        // On Citus the worker's plan names the shard's copy: NAME_102008.
        let names_one = |line: &&String| {
            line.split_whitespace()
                .any(|word| serving.contains(&word) || serving.contains(&shard_of(word)))
        };
        let rows = sizes.get(need.table).copied().unwrap_or(0);
        match plan.iter().find(names_one) {
            Some(line) => evidence.push(line.trim().to_owned()),
            None if rows < PLAN_ROWS => {
                let chosen = plan
                    .iter()
                    .find(|l| l.contains(need.table))
                    .map_or("", |l| l.trim());
                evidence.push(format!(
                    "{} is valid; at {rows} rows the planner's pick among indexes is a tie: {chosen}",
                    serving.join(" or ")
                ));
            }
            None => missing.push(format!(
                "at {rows} rows the plan does not use {} for {wanted}: {}",
                serving.join(" or "),
                plan.iter()
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join(" | ")
            )),
        }
    }
    if missing.is_empty() {
        evidence.dedup();
        (true, evidence.join("; "))
    } else {
        (false, missing.join("; "))
    }
}

/// The name of the table or index a Citus shard name copies
/// (`runs_pkey_102008` → `runs_pkey`); other words as they are.
fn shard_of(word: &str) -> &str {
    match word.rsplit_once('_') {
        Some((name, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => word,
    }
}

/// Up, dump; down to nothing; up again, dump: the two dumps must be equal.
/// On a Citus coordinator the scratch database is a Citus one, so that the
/// Citus profile's up and down are what is verified.
async fn migrations_reversible(url: &str, set: &MigrationSet) -> Result<GateItem> {
    let db_scratch = ScratchDb::empty_alike(url, "pplane_gate").await?;
    let on = match db_scratch.citus_workers() {
        0 => "a scratch database".to_owned(),
        n => format!("a scratch database on Citus ({n} workers)"),
    };
    let scratch = db_scratch.url.clone();
    let outcome = async {
        let mut db = Admin::connect(&scratch).await?;
        db.migrate_up(set, None, |_| {}).await?;
        let first = pplane_cluster::dump::schema_dump(&scratch)?;
        db.migrate_down(set, Some(0), |_| {}).await?;
        db.migrate_up(set, None, |_| {}).await?;
        let second = pplane_cluster::dump::schema_dump(&scratch)?;
        db.close().await?;
        Ok::<_, crate::StoreError>((first, second))
    }
    .await;
    db_scratch.drop_now().await?;
    let (first, second) = outcome?;
    let same = first == second;
    let evidence = if same {
        format!(
            "{} migrations up, down to 0, up again on {on}: identical pg_dump --schema-only ({} lines)",
            set.migrations.len(),
            first.lines().count()
        )
    } else {
        let at = first
            .lines()
            .zip(second.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        format!("the schema differs after down and up, at dump line {at}")
    };
    Ok(item(
        "6 Migrations",
        "migrations are reversible (verified live)",
        same,
        evidence,
    ))
}

/// Only the persistence crate may depend on a database driver.
fn dependency_graph(workspace: Option<&Path>) -> GateItem {
    let section = "6 Architecture";
    let name = "no direct database access in feature code (dependency graph)";
    let not_applicable = |why: String| GateItem {
        section: section.into(),
        item: name.into(),
        verdict: Verdict::NotApplicable,
        evidence: why,
    };
    let Some(root) = workspace.filter(|w| w.join("Cargo.toml").is_file()) else {
        return not_applicable("not run from a source checkout".into());
    };
    let out = match Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
    {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => {
            return not_applicable(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
        Err(e) => return not_applicable(format!("cargo is not available: {e}")),
    };
    let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&out) else {
        return not_applicable("cargo metadata printed no JSON".into());
    };
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    if !packages.iter().any(|p| p["name"] == "pplane-store") {
        return not_applicable(format!("{} is not the pplane workspace", root.display()));
    }
    let drivers = [
        "sqlx",
        "sqlx-core",
        "sqlx-postgres",
        "tokio-postgres",
        "postgres",
        "diesel",
    ];
    let mut offenders = Vec::new();
    let mut crates = 0;
    for pkg in &packages {
        crates += 1;
        let pkg_name = pkg["name"].as_str().unwrap_or("?");
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or("");
            let normal = dep["kind"].is_null();
            if normal && drivers.contains(&dep_name) && pkg_name != "pplane-store" {
                offenders.push(format!("{pkg_name} depends on {dep_name}"));
            }
        }
    }
    let passed = offenders.is_empty();
    let evidence = if passed {
        format!("{crates} workspace crates; only pplane-store depends on a database driver")
    } else {
        offenders.join("; ")
    };
    item(section, name, passed, evidence)
}
