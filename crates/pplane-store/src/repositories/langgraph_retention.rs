//! Deleting LangGraph's documents: a thread's, a LangGraph run's, all but
//! the newest, or tenant-wide by age or count; then the channel values no
//! remaining checkpoint names. The run checkpoints that recorded them stay.

use chrono::{DateTime, Utc};
use pplane_domain::{CheckpointId, CorrelationId, EventId, TenantId};
use sqlx::PgConnection;
use uuid::Uuid;

use super::langgraph::CheckpointKey;
use crate::Result;

/// Which checkpoint documents a deletion takes.
#[derive(Debug, Clone)]
pub enum Doomed<'a> {
    /// Every document of the thread, its strays (writes with no checkpoint) too.
    Thread(&'a str),
    /// The checkpoints of these LangGraph runs, in any thread.
    Runs(&'a [String]),
    /// Every checkpoint of the thread but the newest of each namespace.
    AllButNewest(&'a str),
    /// In every thread, what is beyond the newest `keep` of each namespace;
    /// at most `limit`.
    Beyond { keep: i64, limit: i64 },
    /// In every thread, checkpoints last written before `time`; at most
    /// `limit`, the oldest first.
    Before { time: DateTime<Utc>, limit: i64 },
}

/// A deleted checkpoint: its key, and the run checkpoint that recorded it
/// with that record's event and correlation.
#[derive(Debug, Clone)]
pub struct DeletedCheckpoint {
    pub key: CheckpointKey,
    pub run_checkpoint: CheckpointId,
    pub saved_event: Option<EventId>,
    pub correlation: CorrelationId,
}

/// Deletes the doomed checkpoints with their pending writes, then the
/// channel values no remaining checkpoint of their threads names.
pub async fn documents_delete(
    conn: &mut PgConnection,
    tenant: TenantId,
    doomed: &Doomed<'_>,
) -> Result<Vec<DeletedCheckpoint>> {
    let (mut thread, mut runs, mut keep, mut limit, mut time) = (None, None, None, None, None);
    let filter = match doomed {
        Doomed::Thread(t) => {
            thread = Some(*t);
            "c.thread_id = $2"
        }
        Doomed::Runs(r) => {
            runs = Some(*r);
            "c.langgraph_run_id = ANY($3)"
        }
        Doomed::AllButNewest(t) => {
            thread = Some(*t);
            "c.thread_id = $2 AND c.checkpoint_id < (SELECT max(x.checkpoint_id) FROM langgraph_checkpoints x
               WHERE x.tenant_id = c.tenant_id AND x.thread_id = c.thread_id
                 AND x.checkpoint_ns = c.checkpoint_ns)"
        }
        Doomed::Beyond { keep: k, limit: l } => {
            (keep, limit) = (Some(*k), Some(*l));
            "c.id IN (SELECT r.id FROM (
                 SELECT x.id, row_number() OVER (PARTITION BY x.thread_id, x.checkpoint_ns
                                                 ORDER BY x.checkpoint_id DESC) AS newest
                 FROM langgraph_checkpoints x WHERE x.tenant_id = $1) r
               WHERE r.newest > $4 LIMIT $5)"
        }
        Doomed::Before { time: t, limit: l } => {
            (time, limit) = (Some(*t), Some(*l));
            "c.id IN (SELECT x.id FROM langgraph_checkpoints x
               WHERE x.tenant_id = $1 AND x.updated_at < $6 ORDER BY x.updated_at LIMIT $5)"
        }
    };
    let rows: Vec<(String, String, String, Uuid, Option<Uuid>, Uuid)> = sqlx::query_as(&format!(
        "WITH gone AS (
             DELETE FROM langgraph_checkpoints c WHERE c.tenant_id = $1 AND {filter}
             RETURNING c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.run_checkpoint_id),
         writes AS (
             DELETE FROM langgraph_writes w USING gone g
             WHERE w.tenant_id = $1 AND w.thread_id = g.thread_id AND w.checkpoint_ns = g.checkpoint_ns
               AND w.checkpoint_id = g.checkpoint_id)
         SELECT g.thread_id, g.checkpoint_ns, g.checkpoint_id, g.run_checkpoint_id, r.causation_id, r.correlation_id
         FROM gone g JOIN run_checkpoints r ON r.tenant_id = $1 AND r.id = g.run_checkpoint_id
         ORDER BY g.thread_id, g.checkpoint_ns, g.checkpoint_id"
    ))
    .bind(tenant.as_uuid())
    .bind(thread)
    .bind(runs)
    .bind(keep)
    .bind(limit)
    .bind(time)
    .fetch_all(&mut *conn)
    .await?;
    let mut threads: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    if let Doomed::Thread(t) = doomed {
        // Writes stored before any checkpoint of the thread go with it.
        sqlx::query("DELETE FROM langgraph_writes WHERE tenant_id = $1 AND thread_id = $2")
            .bind(tenant.as_uuid())
            .bind(t)
            .execute(&mut *conn)
            .await?;
        threads.push(t);
    }
    threads.sort_unstable();
    threads.dedup();
    if threads.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(
        "DELETE FROM langgraph_blobs b WHERE b.tenant_id = $1 AND b.thread_id = ANY($2)
           AND NOT EXISTS (SELECT 1 FROM langgraph_checkpoints c
                           WHERE c.tenant_id = b.tenant_id AND c.thread_id = b.thread_id
                             AND c.checkpoint_ns = b.checkpoint_ns
                             AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)",
    )
    .bind(tenant.as_uuid())
    .bind(&threads)
    .execute(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(thread_id, checkpoint_ns, checkpoint_id, run_checkpoint, saved, correlation)| {
                DeletedCheckpoint {
                    key: CheckpointKey {
                        thread_id,
                        checkpoint_ns,
                        checkpoint_id,
                    },
                    run_checkpoint: CheckpointId::from_uuid(run_checkpoint),
                    saved_event: saved.map(EventId::from_uuid),
                    correlation: CorrelationId::from_uuid(correlation),
                }
            },
        )
        .collect())
}
