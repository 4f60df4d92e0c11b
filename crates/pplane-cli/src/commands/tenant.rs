//! `pplane tenant create NAME [--user UUID]`, `pplane tenant quota TENANT
//! [--pending-effects N] [--pending-bytes BYTES]`.

use std::process::ExitCode;

use pplane_domain::{TenantId, UserId};
use pplane_store::operations::effects::tenant_quota_fetch;
use serde_json::json;

use crate::acting::id;
use crate::args::{Output, TenantAction};
use crate::failure::Failure;
use crate::output::outln;
use crate::{output, target};

pub async fn run(action: TenantAction, out: Output) -> Result<ExitCode, Failure> {
    match action {
        TenantAction::Create { name, user } => create(name, user, out).await,
        TenantAction::Quota {
            tenant,
            pending_effects,
            pending_bytes,
        } => quota(&tenant, pending_effects, pending_bytes, out).await,
    }
}

async fn create(name: String, user: Option<String>, out: Output) -> Result<ExitCode, Failure> {
    let user = match user {
        Some(text) => text
            .parse::<UserId>()
            .map_err(|e| Failure::Usage(e.to_string()))?,
        None => UserId::new(),
    };
    let store = target::runtime_store().await?;
    let tenant = store.tenant_create(&name, user).await?;
    if out.json {
        output::json(&json!({ "tenant_id": tenant, "user_id": user, "name": name.trim() }));
    } else {
        outln!("tenant {tenant}");
        outln!("user   {user}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn quota(
    tenant: &str,
    pending_effects: Option<i64>,
    pending_bytes: Option<i64>,
    out: Output,
) -> Result<ExitCode, Failure> {
    let tenant: TenantId = id(tenant)?;
    let store = target::runtime_store().await?;
    if pending_effects.is_some() || pending_bytes.is_some() {
        store
            .tenant_quota_set(tenant, pending_effects, pending_bytes)
            .await?;
    }
    // Read as the delivery principal, a member of every tenant.
    let principal = store.delivery_principal().await?;
    let mut tx = store.tenant_tx(tenant, principal).await?;
    let quota = tenant_quota_fetch(&mut tx).await?;
    tx.commit().await?;
    if out.json {
        output::json(&json!({ "tenant_id": tenant, "quota": quota }));
    } else {
        outln!("tenant           {tenant}");
        outln!(
            "pending effects  {} of {}",
            quota.pending_effects,
            quota.max_pending_effects
        );
        outln!(
            "pending bytes    {} of {}",
            quota.pending_bytes,
            quota.max_pending_bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}
