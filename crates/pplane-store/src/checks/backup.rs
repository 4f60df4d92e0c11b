//! The production gate's backup items: a backup dumped, restored into a
//! scratch database and checked there (also the scheduled job
//! `backup-verify`), and the date of the last such proof.

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::data::data_check;
use super::gate::{item, GateItem};
use crate::admin::ScratchDb;
use crate::{Admin, Result};

/// Backups verified longer ago than this fail the gate.
pub const BACKUP_MAX_AGE_DAYS: i64 = 30;

/// Dump the database, restore it into a scratch database, run the data gate
/// there and compare event counts; record the proof. The gate's item, and
/// the scheduled job `backup-verify`. Its pg_dump and pg_restore block the
/// thread they run on.
pub async fn backup_verify(url: &str) -> Result<BackupVerified> {
    let section = "9 Backup";
    let name = "backup restores and passes the data gate";
    let file = std::env::temp_dir().join(format!("pplane-gate-{}.dump", Uuid::now_v7().simple()));
    let db_scratch = ScratchDb::empty(url, "pplane_gate").await?;
    let scratch = db_scratch.url.clone();
    // The events are counted in the very snapshot pg_dump copies, so that
    // writers running meanwhile cannot make the counts differ.
    let mut admin = Admin::connect(url).await?;
    // On Citus pg_dump reads the distributed tables through the coordinator,
    // each worker in a snapshot of its own: a logical copy of every shard's
    // rows, which is what this item restores; a consistent point across the
    // nodes is each node's base backup at a Citus restore point (docs/citus.md).
    let through = match crate::Profile::detect(admin.conn()).await? {
        crate::Profile::Citus => " through the Citus coordinator (every shard's rows)",
        crate::Profile::SingleNode => "",
    };
    let mut snapshot_tx = admin.conn().begin().await?;
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot_tx)
        .await?;
    let (snapshot, database, events): (String, String, i64) = sqlx::query_as(
        "SELECT pg_export_snapshot(), current_database()::text,
                (SELECT count(*) FROM orchestration_events)",
    )
    .fetch_one(&mut *snapshot_tx)
    .await?;
    let outcome = async {
        pplane_cluster::dump::backup(url, &file, Some(&snapshot))?;
        pplane_cluster::dump::restore(&file, &scratch)?;
        let mut restored = Admin::connect(&scratch).await?;
        let report = data_check(&mut restored).await?;
        let restored_events: i64 = sqlx::query_scalar("SELECT count(*) FROM orchestration_events")
            .fetch_one(restored.conn())
            .await?;
        restored.close().await?;
        let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        Ok::<_, crate::StoreError>((report, restored_events, bytes))
    }
    .await;
    let _ = std::fs::remove_file(&file);
    snapshot_tx.rollback().await?;
    db_scratch.drop_now().await?;
    let (report, restored_events, bytes) = outcome?;
    let failed: Vec<String> = report.failures().map(|r| r.check.clone()).collect();
    let passed = failed.is_empty() && restored_events == events;
    if passed {
        sqlx::query(
            "INSERT INTO pplane_meta.backup_verifications (database, events, dump_bytes)
             VALUES ($1, $2, $3)",
        )
        .bind(&database)
        .bind(events)
        .bind(bytes as i64)
        .execute(admin.conn())
        .await?;
    }
    admin.close().await?;
    let evidence = if passed {
        format!("pg_dump{through} ({bytes} bytes) → pg_restore into a scratch database: data gate PASS, {events} events on both sides")
    } else {
        format!(
            "restored {restored_events} of {events} events; data gate failures there: {}",
            if failed.is_empty() {
                "none".into()
            } else {
                failed.join(", ")
            }
        )
    };
    Ok(BackupVerified {
        item: item(section, name, passed, evidence),
        events,
    })
}

/// A backup proof: the gate's item, and how many events the dump held.
#[derive(Debug, Clone)]
pub struct BackupVerified {
    pub item: GateItem,
    pub events: i64,
}

/// The newest recorded verification is at most 30 days old.
pub(super) async fn backup_recent(url: &str) -> Result<GateItem> {
    let mut conn = PgConnection::connect(url).await?;
    let age: Option<(String, f64)> = sqlx::query_as(
        "SELECT verified_at::text, extract(epoch FROM now() - verified_at)::float8 / 86400
         FROM pplane_meta.backup_verifications
         WHERE database = current_database() ORDER BY verified_at DESC LIMIT 1",
    )
    .fetch_optional(&mut conn)
    .await?;
    conn.close().await?;
    let name = format!("a backup was verified in the last {BACKUP_MAX_AGE_DAYS} days");
    Ok(match age {
        None => item(
            "9 Backup",
            &name,
            false,
            "no verification recorded: run `pplane check all`".into(),
        ),
        Some((at, days)) => item(
            "9 Backup",
            &name,
            days <= BACKUP_MAX_AGE_DAYS as f64,
            format!("last verified {at} ({days:.1} days ago)"),
        ),
    })
}
