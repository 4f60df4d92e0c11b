//! `pplane checkpoints prune --keep-latest N | --older-than D [--tenant T]`:
//! checkpoint retention (LangGraph's documents, and the state of superseded
//! run checkpoints), in one tenant or, with the operator login, in every
//! tenant; each tenant's prune runs as a member of it (the given one, or the
//! plane's service principal).

use std::process::ExitCode;

use chrono::Utc;
use pplane_domain::{Actor, TenantId, UserId};
use pplane_store::operations::checkpoints::{
    checkpoints_prune, CheckpointRetention, CheckpointsPruned,
};
use pplane_store::operations::Origin;
use pplane_store::Admin;
use serde_json::json;

use crate::acting::id;
use crate::args::{CheckpointsAction, Output, PruneArgs};
use crate::duration::duration;
use crate::failure::Failure;
use crate::output::outln;
use crate::{output, target};

pub async fn run(action: CheckpointsAction, out: Output) -> Result<ExitCode, Failure> {
    let CheckpointsAction::Prune(args) = action;
    prune(args, out).await
}

async fn prune(args: PruneArgs, out: Output) -> Result<ExitCode, Failure> {
    let retention = match (args.keep_latest, &args.older_than) {
        (Some(0), _) => return Err(Failure::Usage("--keep-latest must be 1 or more".into())),
        (Some(n), None) => CheckpointRetention::BeyondNewest(n),
        (None, Some(text)) => {
            CheckpointRetention::Before(Utc::now() - duration("--older-than", text)?)
        }
        _ => return Err(Failure::Usage("give --keep-latest or --older-than".into())),
    };
    let actor: Actor = match &args.actor {
        Some(text) => id(text)?,
        None => "system:checkpoint-retention"
            .parse()
            .map_err(|e| Failure::Usage(format!("{e}")))?,
    };
    let origin = Origin::by(actor);
    let store = target::runtime_store().await?;
    let tenants: Vec<TenantId> = match &args.tenant {
        Some(tenant) => vec![id(tenant)?],
        None => {
            let mut admin = Admin::connect(&target::resolve().await?).await?;
            let tenants = admin.tenants_list().await?;
            admin.close().await?;
            tenants
        }
    };
    let user: Option<UserId> = args.user.as_deref().map(id).transpose()?;
    let principal = match user {
        Some(user) => user,
        None => store.delivery_principal().await?,
    };
    let mut pruned = Vec::new();
    let mut total = CheckpointsPruned::default();
    for tenant in &tenants {
        let took = checkpoints_prune(&store, *tenant, principal, retention, &origin).await?;
        total.documents += took.documents;
        total.states += took.states;
        pruned.push(
            json!({ "tenant": tenant, "pruned": took.documents, "states_pruned": took.states }),
        );
    }
    let scope = if args.tenant.is_some() {
        "tenant"
    } else {
        "plane"
    };
    if out.json {
        output::json(&json!({ "scope": scope, "pruned": total.documents,
                              "states_pruned": total.states, "tenants": pruned }));
    } else {
        outln!(
            "pruned {} LangGraph checkpoint(s) and the state of {} run checkpoint(s) \
             in {} tenant(s) ({scope})",
            total.documents,
            total.states,
            tenants.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
