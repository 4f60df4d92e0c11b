//! `pplane outbox list|requeue|stats|purge`: operating the outbox.

use std::process::ExitCode;

use pplane_domain::{OutboxId, OutboxStatus, TenantId, UserId};
use pplane_store::operations::delivery::{delivery_requeue, outbox_purge};
use pplane_store::queries::outbox::{
    outbox_backlog_tenants, outbox_entries, outbox_stats, outbox_stats_plane,
};
use serde_json::json;

use crate::acting::{id, Context};
use crate::args::{OutboxAction, Output};
use crate::failure::Failure;
use crate::{output, target};

pub async fn run(action: OutboxAction, _out: Output) -> Result<ExitCode, Failure> {
    let value = match action {
        OutboxAction::List {
            status,
            limit,
            acting,
        } => {
            let status = status
                .as_deref()
                .map(|s| s.parse::<OutboxStatus>())
                .transpose()
                .map_err(|e| Failure::Usage(e.to_string()))?;
            if !(1..=10_000).contains(&limit) {
                return Err(Failure::Usage("--limit must be 1 to 10000".into()));
            }
            let ctx = Context::parse(&acting)?;
            let mut tx = ctx.begin().await?;
            let entries = outbox_entries(&mut tx, status, limit).await?;
            tx.commit().await?;
            json!(entries)
        }
        OutboxAction::Requeue { id: entry, acting } => {
            let ctx = Context::parse(&acting)?;
            let entry: OutboxId = id(&entry)?;
            let mut tx = ctx.begin().await?;
            let requeued = delivery_requeue(&mut tx, entry, &ctx.origin).await?;
            tx.commit().await?;
            json!(requeued)
        }
        OutboxAction::Stats { tenant, user, top } => match (tenant, user) {
            (Some(tenant), Some(user)) => {
                let (tenant, user): (TenantId, UserId) = (id(&tenant)?, id(&user)?);
                let store = target::runtime_store().await?;
                let mut tx = store.tenant_tx(tenant, user).await?;
                let stats = outbox_stats(&mut tx).await?;
                tx.commit().await?;
                json!({ "scope": tenant, "stats": stats })
            }
            _ => {
                if !(1..=1_000).contains(&top) {
                    return Err(Failure::Usage("--top must be 1 to 1000".into()));
                }
                let store = target::runtime_store().await?;
                let mut tx = store.dispatch_tx().await?;
                let stats = outbox_stats_plane(&mut tx).await?;
                let tenants = outbox_backlog_tenants(&mut tx, top).await?;
                tx.commit().await?;
                json!({ "scope": "plane", "stats": stats, "tenants": tenants })
            }
        },
        OutboxAction::Purge { delivered_before } => {
            let before = chrono::DateTime::parse_from_rfc3339(&delivered_before)
                .map_err(|e| {
                    Failure::Usage(format!(
                        "--delivered-before must be an RFC 3339 time such as 2026-01-31T00:00:00Z: {e}"
                    ))
                })?
                .with_timezone(&chrono::Utc);
            let store = target::runtime_store().await?;
            let purged = outbox_purge(&store, before, &[]).await?;
            json!({ "purged": purged, "delivered_before": before })
        }
    };
    output::json(&value);
    Ok(ExitCode::SUCCESS)
}
