//! `pplane trace ID --tenant T [--user U]`: the walkthrough's seven steps for
//! one correlation (by correlation id or run id, or `--thread` for a
//! LangGraph thread's run), as a tree, a timeline and the causation chain;
//! `--json` for the whole document.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use pplane_store::operations::langgraph::langgraph_thread_run;
use pplane_store::queries::trace::{causation_tree, trace_load, Trace};
use pplane_store::TenantTx;
use uuid::Uuid;

use crate::acting::{id, Reader};
use crate::args::{Output, TraceArgs};
use crate::failure::Failure;
use crate::output::{out, printable};
use crate::{output, paint};

pub async fn run(args: TraceArgs, out: Output) -> Result<ExitCode, Failure> {
    let reader = Reader::parse(&args.tenant, args.user.as_deref()).await?;
    let mut tx = reader.begin().await?;
    let wanted = target(&args, &mut tx).await?;
    let trace = trace_load(&mut tx, wanted).await?;
    tx.commit().await?;
    let Some(trace) = trace else {
        return Err(Failure::Operation(anyhow::anyhow!(
            "nothing in tenant {} has run or correlation id {wanted}",
            reader.tenant
        )));
    };
    if out.json {
        output::json(&trace);
    } else {
        out!("{}", render(&trace));
    }
    Ok(ExitCode::SUCCESS)
}

/// What the arguments name: the id given, or the LangGraph thread's run.
pub(crate) async fn target(args: &TraceArgs, tx: &mut TenantTx) -> Result<Uuid, Failure> {
    match (&args.id, &args.thread) {
        (Some(text), _) => id(text),
        (None, Some(thread)) => langgraph_thread_run(tx, thread)
            .await?
            .map(|run| run.as_uuid())
            .ok_or_else(|| {
                Failure::Operation(anyhow::anyhow!(
                    "tenant {} has no LangGraph thread {}",
                    tx.tenant(),
                    printable(thread)
                ))
            }),
        (None, None) => Err(Failure::Usage("give an id or --thread".into())),
    }
}

/// The trace as text: the tree of what exists, then what happened when.
pub fn render(t: &Trace) -> String {
    let mut s = String::new();
    let line = |s: &mut String, text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(&mut s, paint::bold(&format!("trace {}", t.correlation_id)));
    if let Some(sig) = &t.signal {
        line(
            &mut s,
            format!(
                "signal  {}/{}  received {}  by {}",
                printable(&sig.source_channel),
                printable(&sig.source_id),
                clock(sig.received_at),
                printable(&sig.actor.to_string())
            ),
        );
    }
    for run in &t.runs {
        let span = match (run.started_at, run.finished_at) {
            (Some(a), Some(b)) => format!("{} → {} ({})", clock(a), clock(b), took(a, b)),
            (Some(a), None) => format!("since {}", clock(a)),
            _ => String::new(),
        };
        line(
            &mut s,
            format!(
                "run     {}  {}  {span}",
                run.id,
                paint::status(run.status.as_str())
            ),
        );
        if let Some(err) = &run.error_details {
            line(&mut s, format!("        error {err}"));
        }
        for step in t.steps.iter().filter(|st| st.run_id == run.id) {
            let retries = if step.retry_count > 0 {
                format!("  retries {}", step.retry_count)
            } else {
                String::new()
            };
            line(
                &mut s,
                format!(
                    "  step {} {}  {}{retries}",
                    step.step_index,
                    printable(&step.step_type),
                    paint::status(step.status.as_str())
                ),
            );
            if let Some(err) = &step.error_details {
                line(&mut s, paint::dim(&format!("    error {err}")));
            }
            for call in t.tool_calls.iter().filter(|c| c.step_id == step.id) {
                let detail = call
                    .error_details
                    .as_ref()
                    .map(|e| format!("  {e}"))
                    .unwrap_or_default();
                line(
                    &mut s,
                    format!(
                        "    tool {}  {}{detail}",
                        printable(&call.tool_name),
                        paint::status(call.status.as_str())
                    ),
                );
            }
        }
        for effect in t.effects.iter().filter(|e| e.run_id == run.id) {
            let entry = t.outbox.iter().find(|o| o.effect_id == effect.id);
            let delivery = entry
                .map(|o| {
                    format!(
                        "  outbox {} (attempt {})",
                        paint::status(o.status.as_str()),
                        o.attempt
                    )
                })
                .unwrap_or_default();
            line(
                &mut s,
                format!(
                    "  effect {}  key {}  {}{delivery}",
                    printable(&effect.effect_type),
                    printable(&effect.idempotency_key),
                    paint::status(effect.status.as_str())
                ),
            );
            if let Some(last) = entry
                .and_then(|o| o.error_details.as_ref())
                .and_then(|d| d.get("last"))
            {
                line(&mut s, paint::dim(&format!("    last error {last}")));
            }
        }
    }
    line(&mut s, paint::bold("timeline"));
    let start = t.events.first().map(|e| e.occurred_at);
    for e in &t.events {
        let offset = start
            .map(|a| format!("+{}", took(a, e.occurred_at)))
            .unwrap_or_default();
        line(
            &mut s,
            format!(
                "  #{:<6} {:>10}  {:<22} {}",
                e.sequence_number,
                offset,
                printable(e.event_type.as_str()),
                paint::dim(&printable(&e.actor.to_string()))
            ),
        );
    }
    line(&mut s, paint::bold("causation"));
    for l in causation_tree(&t.chain) {
        let text = format!(
            "{:>4} {}{}",
            l.link.depth,
            l.prefix,
            printable(l.link.event_type.as_str())
        );
        line(&mut s, text);
    }
    s
}

fn clock(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn took(a: DateTime<Utc>, b: DateTime<Utc>) -> String {
    let ms = (b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}
