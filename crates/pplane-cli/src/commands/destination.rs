//! `pplane destination add|list`: where a tenant's effects go.

use std::process::ExitCode;

use pplane_store::operations::destinations::{destination_create, destination_list, Target};
use serde_json::json;

use crate::acting::Context;
use crate::args::{DestinationAction, Output};
use crate::failure::Failure;
use crate::output;

pub async fn run(action: DestinationAction, _out: Output) -> Result<ExitCode, Failure> {
    let value = match action {
        DestinationAction::Add {
            name,
            webhook,
            nats,
            acting,
        } => {
            let target = match (webhook, nats) {
                (Some(url), None) => Target::Webhook(url),
                (None, Some(subject)) => Target::Nats(subject),
                _ => return Err(Failure::Usage("give one of --webhook or --nats".into())),
            };
            let ctx = Context::parse(&acting)?;
            let mut tx = ctx.begin().await?;
            let created = destination_create(&mut tx, &name, &target).await?;
            tx.commit().await?;
            json!(created)
        }
        DestinationAction::List { acting } => {
            let ctx = Context::parse(&acting)?;
            let mut tx = ctx.begin().await?;
            let all = destination_list(&mut tx).await?;
            tx.commit().await?;
            json!(all)
        }
    };
    output::json(&value);
    Ok(ExitCode::SUCCESS)
}
