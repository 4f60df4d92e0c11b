//! `pplane tenant create NAME [--user UUID]`.

use std::process::ExitCode;

use pplane_domain::UserId;
use serde_json::json;

use crate::args::{Output, TenantAction};
use crate::failure::Failure;
use crate::output::outln;
use crate::{output, target};

pub async fn run(action: TenantAction, out: Output) -> Result<ExitCode, Failure> {
    let TenantAction::Create { name, user } = action;
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
