//! `pplane signal ingest`.

use std::process::ExitCode;

use pplane_store::operations::ingest::{signal_ingest, SignalInput};

use crate::acting::{json, Context};
use crate::args::{Output, SignalAction};
use crate::failure::Failure;
use crate::{output, target};

pub async fn run(action: SignalAction, _out: Output) -> Result<ExitCode, Failure> {
    let SignalAction::Ingest {
        acting,
        channel,
        source_id,
        payload,
        refs,
    } = action;
    let ctx = Context::parse(&acting)?;
    let input = SignalInput {
        channel,
        source_id,
        payload: json("payload", &payload)?,
        domain_refs: json("refs", &refs)?,
        actor: ctx.origin.actor.clone(),
    };
    let store = target::runtime_store().await?;
    let mut tx = store.tenant_tx(ctx.tenant, ctx.user).await?;
    let ingested = signal_ingest(&mut tx, &input).await?;
    tx.commit().await?;
    output::json(&ingested);
    Ok(ExitCode::SUCCESS)
}
