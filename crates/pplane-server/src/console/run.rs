//! `GET /runs/{run}`: one run as the walkthrough's trace tells it: its steps
//! and tool calls as a tree, a waterfall of its spans and events on one time
//! axis, the causation tree, its checkpoints, and its effects with their
//! outbox entries. `GET /effects/{effect}` leads to the effect's run.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use pplane_domain::{EffectId, RunId};
use pplane_store::operations::checkpoints::checkpoint_list;
use pplane_store::queries::diagnose::diagnose_effect;
use pplane_store::queries::outbox::{Effect, OutboxEntry};
use pplane_store::queries::runs::{Step, ToolCall};
use pplane_store::queries::trace::{causation_tree, trace_load, Trace};

use super::access::{Failure, Viewer};
use super::layout::{duration, error_line, json, millis, status, when};
use super::runs::short;
use crate::problem::{Kind, Problem};
use crate::routes::field;

const CHECKPOINTS_SHOWN: i64 = 20;

pub async fn page(
    Viewer { mut tx, who }: Viewer,
    Path(run): Path<String>,
) -> Result<Response, Failure> {
    let run: RunId = field("run id", &run)?;
    let not_found = || Problem::new(Kind::NotFound, format!("run {run} not found"));
    let trace = trace_load(&mut tx, run.as_uuid())
        .await?
        .ok_or_else(not_found)?;
    let checkpoints = checkpoint_list(&mut tx, run, None, CHECKPOINTS_SHOWN).await?;
    tx.commit().await?;
    let r = trace
        .runs
        .iter()
        .find(|r| r.id == run)
        .ok_or_else(not_found)?;
    let steps: Vec<&Step> = trace.steps.iter().filter(|s| s.run_id == run).collect();
    let effects: Vec<&Effect> = trace.effects.iter().filter(|e| e.run_id == run).collect();
    let operator = who.operator();
    let csrf = who.opened.csrf.clone();
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href="/runs" { "Runs" } " / " }
        h1 { "Run " code #run-id { (r.id) } " " (status(r.status.as_str())) }
        dl.facts {
            dt { "Correlation" } dd { a href={"/runs?correlation=" (r.correlation_id)} { code { (r.correlation_id) } } }
            @if let Some(signal) = &trace.signal {
                dt { "Signal" } dd { (signal.source_channel) " · " code { (signal.source_id) } " · " (when(Some(signal.received_at))) }
            }
            dt { "Started" } dd { (when(r.started_at)) }
            dt { "Finished" } dd { (when(r.finished_at)) }
            dt { "Duration" } dd { (duration(r.started_at, r.finished_at)) }
            dt { "Actor" } dd { code { (r.actor) } }
            @if let Some(error) = &r.error_details {
                dt { "Error" } dd.bad #run-error { (error_line(error)) }
            }
        }
        (json("Domain references", &r.domain_refs))
        section aria-labelledby="steps-h" {
            h2 #steps-h { "Steps and tool calls" }
            (step_tree(&steps, &trace.tool_calls))
        }
        section aria-labelledby="timeline-h" {
            h2 #timeline-h { "Timeline" }
            (waterfall(&trace, &steps, &effects))
        }
        section aria-labelledby="causation-h" {
            h2 #causation-h { "Causation tree" }
            (causation(&trace))
        }
        section aria-labelledby="checkpoints-h" {
            h2 #checkpoints-h { "Checkpoints" }
            @if checkpoints.is_empty() {
                p.empty { "No checkpoints." }
            } @else {
                div.scroll { table #checkpoints {
                    thead { tr { th scope="col" { "Saved" } th scope="col" { "After step" } th scope="col" { "Log position" } th scope="col" { "State" } } }
                    tbody { @for c in &checkpoints {
                        tr {
                            td { (when(Some(c.created_at))) }
                            td { @if let Some(i) = c.last_step_index { (i) } @else { "—" } }
                            td { (c.event_sequence) }
                            td { @match (&c.state, c.pruned_at) {
                                (Some(state), _) => (json("state", state)),
                                (None, Some(at)) => span.dim { "pruned " (when(Some(at))) },
                                (None, None) => span.none { "—" },
                            } }
                        }
                    } }
                } }
                @if checkpoints.len() as i64 == CHECKPOINTS_SHOWN {
                    p.note { "The newest " (CHECKPOINTS_SHOWN) " are shown; " code { "GET /v1/runs/" (run) "/checkpoints" } " pages through all." }
                }
            }
        }
        section aria-labelledby="effects-h" {
            h2 #effects-h { "Effects" }
            (effect_table(&effects, &trace.outbox, operator, &csrf, &format!("/runs/{run}")))
        }
    };
    let title = format!("Run {}", short(&run.to_string()));
    Ok(who.shell(&title, "/runs").render(body))
}

/// `GET /effects/{effect}`: to the effect's line on its run's page.
pub async fn effect(
    Viewer { mut tx, .. }: Viewer,
    Path(effect): Path<String>,
) -> Result<Response, Failure> {
    let effect: EffectId = field("effect id", &effect)?;
    let found = diagnose_effect(&mut tx, effect)
        .await?
        .ok_or_else(|| Problem::new(Kind::NotFound, format!("effect {effect} not found")))?;
    tx.commit().await?;
    let target = format!("/runs/{}#effect-{effect}", found.effect.run_id);
    Ok(Redirect::to(&target).into_response())
}

fn step_tree(steps: &[&Step], calls: &[ToolCall]) -> Markup {
    html! {
        @if steps.is_empty() {
            p.empty { "No steps." }
        } @else {
            ol.tree-steps #steps {
                @for s in steps {
                    li.step data-step=(s.id) data-status=(s.status.as_str()) {
                        div.line {
                            span.index { "#" (s.step_index) }
                            " " strong.step-type { (s.step_type) } " "
                            (status(s.status.as_str()))
                            @if s.retry_count > 0 { " " span.retries { (s.retry_count) " retries" } }
                            " " span.dim { (duration(s.started_at, s.finished_at)) }
                        }
                        @if let Some(error) = &s.error_details {
                            p.bad.error-line { (error_line(error)) }
                        }
                        @if let Some(input) = &s.input { (json("input", input)) }
                        @if let Some(output) = &s.output_result { (json("output", output)) }
                        @let mine: Vec<&ToolCall> = calls.iter().filter(|c| c.step_id == s.id).collect();
                        @if !mine.is_empty() {
                            ul.tools {
                                @for c in mine {
                                    li.tool data-status=(c.status.as_str()) {
                                        div.line {
                                            "tool " code.tool-name { (c.tool_name) } " "
                                            (status(c.status.as_str()))
                                            " " span.dim { (duration(c.started_at, c.finished_at)) }
                                        }
                                        @if let Some(error) = &c.error_details {
                                            p.bad.error-line { (error_line(error)) }
                                        }
                                        (json("arguments", &c.tool_args))
                                        @if let Some(result) = &c.result { (json("result", result)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One row of the waterfall: a label, its status, when it started and ended.
struct Span {
    label: String,
    depth: u8,
    status: Option<String>,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
}

fn waterfall(trace: &Trace, steps: &[&Step], effects: &[&Effect]) -> Markup {
    let mut spans = Vec::new();
    if let Some(r) = trace.runs.first() {
        if let Some(from) = r.started_at {
            spans.push(Span {
                label: "run".into(),
                depth: 0,
                status: Some(r.status.to_string()),
                from,
                to: r.finished_at,
            });
        }
    }
    for s in steps {
        if let Some(from) = s.started_at {
            spans.push(Span {
                label: format!("#{} {}", s.step_index, s.step_type),
                depth: 1,
                status: Some(s.status.to_string()),
                from,
                to: s.finished_at,
            });
        }
        for c in trace.tool_calls.iter().filter(|c| c.step_id == s.id) {
            if let Some(from) = c.started_at {
                spans.push(Span {
                    label: format!("tool {}", c.tool_name),
                    depth: 2,
                    status: Some(c.status.to_string()),
                    from,
                    to: c.finished_at,
                });
            }
        }
    }
    for e in effects {
        if let Some(o) = trace.outbox.iter().find(|o| o.effect_id == e.id) {
            spans.push(Span {
                label: format!("effect {}", e.effect_type),
                depth: 1,
                status: Some(o.status.to_string()),
                from: o.created_at,
                to: o.delivered_at,
            });
        }
    }
    let ends = spans.iter().flat_map(|s| [Some(s.from), s.to]).flatten();
    let events = trace.events.iter().map(|e| e.occurred_at);
    let all: Vec<DateTime<Utc>> = ends.chain(events).collect();
    let (Some(t0), Some(t1)) = (all.iter().min().copied(), all.iter().max().copied()) else {
        return html! { p.empty { "Nothing has happened yet." } };
    };
    let total = (t1 - t0).num_microseconds().unwrap_or(1).max(1) as f64;
    let at = |t: DateTime<Utc>| {
        ((t - t0).num_microseconds().unwrap_or(0) as f64 / total).clamp(0.0, 1.0)
    };
    let bar = |from: f64, to: f64, class: &str| {
        let x = from * 1000.0;
        let w = ((to - from) * 1000.0).max(3.0);
        html! {
            svg.bar viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true" focusable="false" {
                rect class=(class) x=(format!("{x:.1}")) y="1" width=(format!("{w:.1}")) height="8" {}
            }
        }
    };
    let offset = |t: DateTime<Utc>| format!("+{}", millis((t - t0).num_milliseconds()));
    html! {
        p.axis { "0 = " (when(Some(t0))) "; the whole run spans " (millis((t1 - t0).num_milliseconds())) "." }
        div.scroll { table.waterfall #waterfall {
            thead { tr { th scope="col" { "Span" } th scope="col" { "Status" } th scope="col" { "Starts" } th scope="col" { "Takes" } th scope="col".axis-col { "0 → " (millis((t1 - t0).num_milliseconds())) } } }
            tbody {
                @for s in &spans {
                    @let end = s.to.unwrap_or(t1);
                    tr.span data-depth=(s.depth) {
                        th scope="row" class={"depth-" (s.depth)} { (s.label) }
                        td { @if let Some(st) = &s.status { (status(st)) } }
                        td { (offset(s.from)) }
                        td { @if s.to.is_some() { (millis((end - s.from).num_milliseconds())) } @else { "open" } }
                        td.axis-col { (bar(at(s.from), at(end), &format!("span {}", s.status.as_deref().unwrap_or("").to_lowercase()))) }
                    }
                }
            }
        } }
        h3 { "Events" }
        div.scroll { table.waterfall #events {
            thead { tr { th scope="col" { "#" } th scope="col" { "Event" } th scope="col" { "Actor" } th scope="col" { "At" } th scope="col".axis-col { "0 → " (millis((t1 - t0).num_milliseconds())) } } }
            tbody {
                @for e in &trace.events {
                    tr.event id={"event-" (e.id)} data-event-type=(e.event_type.as_str()) {
                        td { (e.sequence_number) }
                        th scope="row" { code.event-type { (e.event_type.as_str()) } }
                        td { code { (e.actor) } }
                        td { (offset(e.occurred_at)) }
                        td.axis-col { (bar(at(e.occurred_at), at(e.occurred_at), "tick")) }
                    }
                }
            }
        } }
    }
}

fn causation(trace: &Trace) -> Markup {
    let lines = causation_tree(&trace.chain);
    html! {
        @if lines.is_empty() {
            p.empty { "No events." }
        } @else {
            ol.causation #causation {
                @for line in &lines {
                    li data-depth=(line.link.depth) {
                        span.glyph aria-hidden="true" { (line.prefix) }
                        a href={"#event-" (line.link.id)} { code { (line.link.event_type.as_str()) } }
                        " " span.dim { (short(&line.link.id.to_string())) }
                    }
                }
            }
        }
    }
}

/// Effects with their outbox entries: where each stands, how often it was
/// tried, the last error; a dead letter with a requeue button for operators.
pub fn effect_table(
    effects: &[&Effect],
    outbox: &[OutboxEntry],
    operator: bool,
    csrf: &str,
    back: &str,
) -> Markup {
    html! {
        @if effects.is_empty() {
            p.empty { "No effects." }
        } @else {
            div.scroll { table #effects {
                thead { tr {
                    th scope="col" { "Effect" } th scope="col" { "Idempotency key" } th scope="col" { "Effect status" }
                    th scope="col" { "Outbox" } th scope="col" { "Attempts" } th scope="col" { "Next try / delivered" } th scope="col" { "Last error" }
                } }
                tbody { @for e in effects {
                    @let entry = outbox.iter().find(|o| o.effect_id == e.id);
                    tr id={"effect-" (e.id)} data-effect=(e.id) {
                        th scope="row" { (e.effect_type) }
                        td { code { (e.idempotency_key) } }
                        td { (status(e.status.as_str())) }
                        @if let Some(o) = entry {
                            td.outbox-status { (status(o.status.as_str())) }
                            td { (o.attempt) }
                            td { @if o.delivered_at.is_some() { (when(o.delivered_at)) } @else { (when(o.next_retry_at)) } }
                            td {
                                @if let Some(err) = &o.error_details { span.bad { (error_line(err)) } }
                                @if o.status.as_str() == "DEAD_LETTER" {
                                    (super::outbox::requeue_form(o, operator, csrf, back))
                                }
                            }
                        } @else {
                            td colspan="4" { span.dim { "no outbox entry" } }
                        }
                    }
                } }
            } }
        }
    }
}
