//! `pplane run ...`: every change in its own unit of work, printed as JSON.

use std::process::ExitCode;

use pplane_domain::{RetryPolicy, RunId, StepId, ToolCallId};
use pplane_store::operations::checkpoints::{checkpoint_load, checkpoint_save};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::tool_calls::{tool_call_finish, tool_call_start};
use pplane_store::queries::runs::run_view;
use serde_json::json;

use crate::acting::{id, json, json_opt, Context};
use crate::args::{CheckpointAction, Output, RunAction, StepAction, ToolAction};
use crate::failure::Failure;
use crate::output;

pub async fn run(action: RunAction, _out: Output) -> Result<ExitCode, Failure> {
    let value = match action {
        RunAction::Start { run, acting } => {
            let ctx = Context::parse(&acting)?;
            let run: RunId = id(&run)?;
            let mut tx = ctx.begin().await?;
            let r = run_start(&mut tx, run, &ctx.origin).await?;
            tx.commit().await?;
            json!(r)
        }
        RunAction::Show { run, acting } => {
            let ctx = Context::parse(&acting)?;
            let run: RunId = id(&run)?;
            let mut tx = ctx.begin().await?;
            let view = run_view(&mut tx, run).await?;
            tx.rollback().await?;
            json!(view)
        }
        RunAction::Complete { run, acting } => finish(&run, &acting, RunOutcome::Completed).await?,
        RunAction::Fail { run, error, acting } => {
            let error = json("error", &error)?;
            finish(&run, &acting, RunOutcome::Failed { error }).await?
        }
        RunAction::Cancel {
            run,
            reason,
            acting,
        } => finish(&run, &acting, RunOutcome::Cancelled { reason }).await?,
        RunAction::Step { action } => step(action).await?,
        RunAction::Tool { action } => tool(action).await?,
        RunAction::Checkpoint { action } => checkpoint(action).await?,
        RunAction::Effect {
            run,
            effect_type,
            key,
            spec,
            step,
            destination,
            acting,
        } => {
            let ctx = Context::parse(&acting)?;
            let mut spec = json("spec", &spec)?;
            if let (Some(name), Some(map)) = (destination, spec.as_object_mut()) {
                map.insert("destination".into(), name.into());
            }
            let input = EffectInput {
                run: id(&run)?,
                step: step.as_deref().map(id::<StepId>).transpose()?,
                effect_type,
                idempotency_key: key,
                spec,
            };
            let mut tx = ctx.begin().await?;
            let requested = effect_request(&mut tx, &input, &ctx.origin).await?;
            tx.commit().await?;
            json!(requested)
        }
    };
    output::json(&value);
    Ok(ExitCode::SUCCESS)
}

async fn finish(
    run: &str,
    acting: &crate::args::Acting,
    outcome: RunOutcome,
) -> Result<serde_json::Value, Failure> {
    let ctx = Context::parse(acting)?;
    let run: RunId = id(run)?;
    let mut tx = ctx.begin().await?;
    let r = run_finish(&mut tx, run, &outcome, &ctx.origin).await?;
    tx.commit().await?;
    Ok(json!(r))
}

async fn step(action: StepAction) -> Result<serde_json::Value, Failure> {
    let (step, acting, how) = match action {
        StepAction::Add {
            run,
            step_type,
            index,
            input,
            acting,
        } => {
            let ctx = Context::parse(&acting)?;
            let run: RunId = id(&run)?;
            let input = StepInput {
                step_type,
                step_index: index,
                input: json_opt("input", input.as_deref())?,
            };
            let mut tx = ctx.begin().await?;
            let s = step_add(&mut tx, run, &input, &ctx.origin).await?;
            tx.commit().await?;
            return Ok(json!(s));
        }
        StepAction::Start { step, acting } => (step, acting, StepMove::Start),
        StepAction::Complete {
            step,
            output,
            acting,
        } => {
            let output = json_opt("output", output.as_deref())?;
            (step, acting, StepMove::Complete { output })
        }
        StepAction::Fail {
            step,
            error,
            acting,
        } => {
            let error = json("error", &error)?;
            (step, acting, StepMove::Fail { error })
        }
        StepAction::Retry {
            step,
            max_retries,
            base_delay_ms,
            max_delay_ms,
            acting,
        } => {
            let policy = RetryPolicy {
                max_retries,
                base_delay_ms,
                max_delay_ms,
            };
            (step, acting, StepMove::Retry { policy })
        }
        StepAction::Skip {
            step,
            reason,
            acting,
        } => (step, acting, StepMove::Skip { reason }),
    };
    let ctx = Context::parse(&acting)?;
    let step: StepId = id(&step)?;
    let mut tx = ctx.begin().await?;
    let s = step_move(&mut tx, step, &how, &ctx.origin).await?;
    tx.commit().await?;
    Ok(json!(s))
}

async fn tool(action: ToolAction) -> Result<serde_json::Value, Failure> {
    match action {
        ToolAction::Start {
            step,
            name,
            args,
            acting,
        } => {
            let ctx = Context::parse(&acting)?;
            let step: StepId = id(&step)?;
            let args = json("args", &args)?;
            let mut tx = ctx.begin().await?;
            let call = tool_call_start(&mut tx, step, &name, &args, &ctx.origin).await?;
            tx.commit().await?;
            Ok(json!(call))
        }
        ToolAction::Finish {
            call,
            result,
            error,
            acting,
        } => {
            let ctx = Context::parse(&acting)?;
            let call: ToolCallId = id(&call)?;
            let outcome = match (
                json_opt("result", result.as_deref())?,
                json_opt("error", error.as_deref())?,
            ) {
                (Some(r), None) => Ok(r),
                (None, Some(e)) => Err(e),
                _ => {
                    return Err(Failure::Usage(
                        "give exactly one of --result and --error".into(),
                    ))
                }
            };
            let mut tx = ctx.begin().await?;
            let c = tool_call_finish(&mut tx, call, outcome.as_ref(), &ctx.origin).await?;
            tx.commit().await?;
            Ok(json!(c))
        }
    }
}

async fn checkpoint(action: CheckpointAction) -> Result<serde_json::Value, Failure> {
    match action {
        CheckpointAction::Save {
            run,
            state,
            last_step,
            acting,
        } => {
            let ctx = Context::parse(&acting)?;
            let run: RunId = id(&run)?;
            let state = json("state", &state)?;
            let mut tx = ctx.begin().await?;
            let c = checkpoint_save(&mut tx, run, &state, last_step, &ctx.origin).await?;
            tx.commit().await?;
            Ok(json!(c))
        }
        CheckpointAction::Load { run, acting } => {
            let ctx = Context::parse(&acting)?;
            let run: RunId = id(&run)?;
            let mut tx = ctx.begin().await?;
            let c = checkpoint_load(&mut tx, run).await?;
            tx.rollback().await?;
            Ok(json!(c))
        }
    }
}
