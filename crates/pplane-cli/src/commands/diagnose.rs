//! `pplane diagnose run ID --tenant T` and `pplane diagnose effect ID
//! --tenant T`: the walkthrough's failure procedures, answered in one round
//! trip each, ending with what to do.

use std::process::ExitCode;

use pplane_domain::{EffectId, RunId};
use pplane_store::queries::diagnose::{
    diagnose_effect, diagnose_run, EffectDiagnosis, RunDiagnosis,
};
use uuid::Uuid;

use crate::acting::{id, Reader};
use crate::args::{DiagnoseWhat, Output, TraceArgs};
use crate::failure::Failure;

use crate::output::{out, printable};
use crate::{output, paint, target};

pub async fn run(what: DiagnoseWhat, out: Output) -> Result<ExitCode, Failure> {
    match what {
        DiagnoseWhat::Run(args) => {
            let reader = Reader::parse(&args.tenant, args.user.as_deref()).await?;
            let mut tx = reader.begin().await?;
            let wanted = super::trace::target(&args, &mut tx).await?;
            let found = diagnose_run(&mut tx, RunId::from_uuid(wanted)).await?;
            tx.commit().await?;
            let d = found.ok_or_else(|| missing("run", wanted, &reader))?;
            if out.json {
                output::json(&d);
            } else {
                out!("{}", render_run(&d));
            }
        }
        DiagnoseWhat::Effect(args) => {
            let (reader, wanted) = open(&args).await?;
            let mut tx = reader.begin().await?;
            let found = diagnose_effect(&mut tx, EffectId::from_uuid(wanted)).await?;
            tx.commit().await?;
            let d = found.ok_or_else(|| missing("effect", wanted, &reader))?;
            // The reader is the given member or the plane's service
            // principal, a member of every tenant: either may requeue.
            let requeue = requeue_command(
                &d,
                &target::self_command(),
                &reader.tenant.to_string(),
                &reader.user.to_string(),
                None,
            );
            if out.json {
                output::json(&serde_json::json!({ "diagnosis": d, "requeue": requeue }));
            } else {
                out!("{}", render_effect(&d, requeue.as_deref()));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(args: &TraceArgs) -> Result<(Reader, Uuid), Failure> {
    let Some(text) = &args.id else {
        return Err(Failure::Usage("an effect is named by its id".into()));
    };
    let wanted: Uuid = id(text)?;
    Ok((
        Reader::parse(&args.tenant, args.user.as_deref()).await?,
        wanted,
    ))
}

fn missing(what: &str, id: Uuid, reader: &Reader) -> Failure {
    Failure::Operation(anyhow::anyhow!(
        "no {what} {id} in tenant {}",
        reader.tenant
    ))
}

pub(crate) fn render_run(d: &RunDiagnosis) -> String {
    let mut s = format!(
        "run {}  {}\n",
        d.run.id,
        paint::status(d.run.status.as_str())
    );
    if let Some(err) = &d.run.error_details {
        s += &format!("  error {err}\n");
    }
    if d.troubled_steps.is_empty() {
        s += "  no step failed\n";
    }
    for t in &d.troubled_steps {
        s += &format!(
            "  step {} {}  {}  retries {}\n",
            t.step.step_index,
            printable(&t.step.step_type),
            paint::status(t.step.status.as_str()),
            t.step.retry_count
        );
        if let Some(err) = &t.step.error_details {
            s += &format!("    last error {err}\n");
        }
        for f in &t.failures {
            s += &format!(
                "    STEP_FAILED #{} at {}  {}\n",
                f.sequence_number,
                f.occurred_at.format("%H:%M:%S%.3f"),
                f.event_data
            );
        }
        for c in &t.failed_tool_calls {
            let err = c
                .error_details
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            s += &format!(
                "    tool {}  {}  args {}  {err}\n",
                printable(&c.tool_name),
                paint::status(c.status.as_str()),
                c.tool_args
            );
        }
    }
    s
}

pub(crate) fn render_effect(d: &EffectDiagnosis, requeue: Option<&str>) -> String {
    let e = &d.effect;
    let mut s = format!(
        "effect {}  {}  {}  retries {}\n",
        e.id,
        printable(&e.effect_type),
        paint::status(e.status.as_str()),
        e.retry_count
    );
    if let Some(at) = e.next_retry_at {
        s += &format!("  next attempt {}\n", at.format("%Y-%m-%d %H:%M:%S%.3f"));
    }
    match &d.outbox {
        None => s += "  no outbox entry\n",
        Some(o) => {
            s += &format!(
                "  outbox {}  {}  attempt {}\n",
                o.id,
                paint::status(o.status.as_str()),
                o.attempt
            );
            if let Some(owner) = &o.lease_owner {
                s += &format!("  held by {}\n", printable(owner));
            }
            if let Some(last) = o.error_details.as_ref().and_then(|x| x.get("last")) {
                let reason = last.get("message").and_then(|m| m.as_str()).unwrap_or("?");
                let kind = last.get("kind").and_then(|m| m.as_str()).unwrap_or("?");
                s += &format!(
                    "  last failure: {} ({})\n",
                    printable(reason),
                    printable(kind)
                );
            }
        }
    }
    s += "  events\n";
    for ev in &d.events {
        s += &format!(
            "    #{:<6} {:<22} {}\n",
            ev.sequence_number,
            ev.event_type,
            paint::dim(&printable(&ev.actor.to_string()))
        );
    }
    if let Some(cmd) = requeue {
        s += &format!("  to deliver it again:\n    $ {cmd}\n");
    }
    s
}

/// For a dead letter: the exact command that puts it back in the queue,
/// ready to paste. Without an actor it records the shell's user
/// (`user:$USER`, expanded by the shell the command is pasted into; `user:operator`
/// where USER is unset): the
/// operator who requeues is who the event names.
pub(crate) fn requeue_command(
    d: &EffectDiagnosis,
    pplane: &str,
    tenant: &str,
    user: &str,
    actor: Option<&str>,
) -> Option<String> {
    let o = d
        .outbox
        .as_ref()
        .filter(|o| o.status == pplane_domain::OutboxStatus::DeadLetter)?;
    let actor = actor.unwrap_or("\"user:${USER:-operator}\"");
    Some(format!(
        "{pplane} outbox requeue {} --tenant {tenant} --user {user} --actor {actor}",
        o.id
    ))
}
