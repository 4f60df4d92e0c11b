//! `GET /dead-letters`: the tenant's dead letters with their last error,
//! and `POST /dead-letters/{entry}/requeue` for operator keys; `GET /outbox`:
//! depth by status, the oldest due entry's age, the tenant's quotas and
//! what counts against them, the last hour's deliveries. A session sees its
//! own tenant only; the depth of every tenant (top N) is the operators', in
//! `pplane outbox stats --top N` and the per-tenant metrics.

use axum::extract::{Form, Path, Query};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use pplane_domain::{Actor, ApiScope, OutboxId, OutboxStatus};
use pplane_store::operations::delivery::delivery_requeue;
use pplane_store::operations::effects::tenant_quota_fetch;
use pplane_store::operations::Origin;
use pplane_store::queries::outbox::{
    outbox_deliveries_recent, outbox_entries, outbox_entry, outbox_stats, OutboxEntry,
};
use serde::Deserialize;

use super::access::{safe_next, same_origin, see_other, Failure, Viewer};
use super::layout::{error_line, millis, status, when};
use crate::routes::field;

/// The most dead letters one page lists (newest first).
const DEAD_LETTERS_SHOWN: i64 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct DeadLetterQuery {
    /// The entry just requeued: the page shows where it stands now.
    requeued: Option<String>,
}

pub async fn dead_letters(
    Viewer { mut tx, who }: Viewer,
    Query(q): Query<DeadLetterQuery>,
) -> Result<Response, Failure> {
    let requeued: Option<OutboxId> = q.requeued.as_deref().and_then(|t| t.parse().ok());
    let letters =
        outbox_entries(&mut tx, Some(OutboxStatus::DeadLetter), DEAD_LETTERS_SHOWN).await?;
    let followed = match requeued {
        // Read by id: a requeued entry is no longer a dead letter, and it
        // may already be delivered.
        Some(id) => outbox_entry(&mut tx, id).await?,
        None => None,
    };
    tx.commit().await?;
    let operator = who.operator();
    let csrf = who.opened.csrf.clone();
    let body = html! {
        h1 { "Dead letters" }
        @if let Some(entry) = &followed {
            @let settled = matches!(entry.status, OutboxStatus::Delivered | OutboxStatus::DeadLetter);
            section.notice #requeued role="status" aria-live="polite" data-live=[(!settled).then_some("2")] {
                p {
                    "Requeued " a href={"/effects/" (entry.effect_id)} { code { (entry.idempotency_key) } } ": now "
                    (status(entry.status.as_str()))
                    @if let Some(at) = entry.delivered_at { " at " (when(Some(at))) }
                    @if !settled { " (this page refreshes until it settles)" }
                }
            }
        }
        p { "Effects the worker gave up on: their receivers refused them, or kept failing, until their retries ran out. "
            "Fix the receiver, then requeue: the entry goes out again with its original idempotency key." }
        @if !operator {
            p.note #requeue-needs-operator { "Requeueing needs an operator key; this key's scope is " (who.key.scope.as_str()) "." }
        }
        @if letters.is_empty() {
            p.empty #no-dead-letters { "No dead letters." }
        } @else {
            div.scroll { table #dead-letters {
                thead { tr {
                    th scope="col" { "Effect" } th scope="col" { "Idempotency key" } th scope="col" { "Attempts" }
                    th scope="col" { "Requested" } th scope="col" { "Last error" } th scope="col" { "Action" }
                } }
                tbody { @for e in &letters {
                    tr data-entry=(e.id) {
                        th scope="row" { a href={"/effects/" (e.effect_id)} { (e.event_type) } }
                        td { code { (e.idempotency_key) } }
                        td { (e.attempt) }
                        td { (when(Some(e.created_at))) }
                        td.bad { @if let Some(err) = &e.error_details { (error_line(err)) } }
                        td { (requeue_form(e, operator, &csrf, "/dead-letters")) }
                    }
                } }
            } }
        }
    };
    Ok(who.shell("Dead letters", "/dead-letters").render(body))
}

/// The requeue button of a dead letter: a POST with the session's CSRF
/// token, for operator keys; others see why they have none.
pub fn requeue_form(entry: &OutboxEntry, operator: bool, csrf: &str, back: &str) -> Markup {
    html! {
        @if operator {
            form.inline method="post" action={"/dead-letters/" (entry.id) "/requeue"} {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="back" value=(back);
                button.requeue type="submit" aria-label={"Requeue " (entry.idempotency_key)} { "Requeue" }
            }
        } @else {
            span.dim { "operator key needed" }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RequeueForm {
    csrf: String,
    back: Option<String>,
}

/// The walkthrough's requeue, as the operator whose key signed in.
pub async fn requeue(
    Viewer { mut tx, who }: Viewer,
    headers: HeaderMap,
    Path(entry): Path<String>,
    Form(form): Form<RequeueForm>,
) -> Result<Response, Failure> {
    same_origin(&headers)?;
    who.check_csrf(&form.csrf)?;
    who.require(ApiScope::Operator)?;
    let entry: OutboxId = field("outbox entry id", &entry)?;
    let origin = Origin::by(Actor::User(who.key.user_id.to_string()));
    delivery_requeue(&mut tx, entry, &origin).await?;
    tx.commit().await?;
    // Back to the run page the button was on, or to the dead letters,
    // following the entry.
    let target = match form.back.as_deref() {
        Some(back) if back.starts_with("/runs/") => safe_next(Some(back)),
        _ => format!("/dead-letters?requeued={entry}"),
    };
    Ok(see_other(&target))
}

pub async fn depth(Viewer { mut tx, who }: Viewer) -> Result<Response, Failure> {
    let stats = outbox_stats(&mut tx).await?;
    let hour = outbox_deliveries_recent(&mut tx).await?;
    let quota = tenant_quota_fetch(&mut tx).await?;
    tx.commit().await?;
    let delivered_hour: i64 = hour.iter().map(|(_, n)| n).sum();
    let peak = hour.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let rows = [
        ("PENDING", stats.pending),
        ("IN_FLIGHT", stats.in_flight),
        ("DELIVERED", stats.delivered),
        ("DEAD_LETTER", stats.dead_letter),
    ];
    let body = html! {
        h1 { "Outbox" }
        div.cards {
            @for (name, n) in rows {
                div.card data-status=(name) {
                    div.n { (n) }
                    div { (status(name)) }
                }
            }
            div.card #due { div.n { (stats.due) } div { "due now" } }
            div.card #oldest-due {
                div.n { @match stats.oldest_due_age_s { Some(s) => (millis((s * 1000.0) as i64)), None => "—" } }
                div { "oldest due entry's wait" }
            }
        }
        h2 { "Quotas" }
        p #quota {
            (quota.pending_effects) " of " (quota.max_pending_effects) " pending effects; "
            (quota.pending_bytes) " of " (quota.max_pending_bytes) " bytes of their payloads. "
            "A request past either is refused, with nothing written, until deliveries drain some."
        }
        @if stats.dead_letter > 0 {
            p { a href="/dead-letters" { (stats.dead_letter) " dead letters" } " wait for an operator." }
        }
        h2 { "Deliveries over the last hour" }
        p #delivered-hour { (delivered_hour) " delivered in the last hour." }
        div.scroll { table #deliveries {
            thead { tr { th scope="col" { "From (UTC)" } th scope="col" { "Delivered" } th scope="col" { span.visually-hidden { "Bar" } } } }
            tbody { @for (start, n) in &hour {
                tr {
                    td { (start.format("%H:%M")) }
                    td { (n) }
                    td.axis-col {
                        svg.bar viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true" focusable="false" {
                            rect class="span delivered" x="0" y="1" width=(format!("{:.1}", *n as f64 / peak as f64 * 1000.0)) height="8" {}
                        }
                    }
                }
            } }
        } }
        p.note { "Depth and age for the whole plane, and per tenant, are the operators': " code { "pplane outbox stats --top N" } " and " code { "/metrics" } " (" code { "pplane_outbox_tenant_due" } ", " code { "pplane_outbox_tenant_oldest_due_age_seconds" } ")." }
    };
    Ok(who.shell("Outbox", "/outbox").render(body))
}
