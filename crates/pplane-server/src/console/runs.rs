//! `GET /runs`: the tenant's runs, newest first, fifty a page; filtered by
//! status, creation time and correlation id; searched by run id,
//! correlation id or the start of a signal's source id.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{html, Markup};
use pplane_domain::{CorrelationId, RunId, RunStatus};
use pplane_store::queries::runs::{runs_page, RunCursor, RunFilter, RunSummary};
use serde::Deserialize;

use super::access::{Failure, Viewer};
use super::layout::{duration, status, when};

const PAGE: i64 = 50;

/// The list's query string, as the filter form sends it (empty fields are
/// no filter).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    correlation: String,
    #[serde(default)]
    q: String,
    before: Option<String>,
    after: Option<String>,
}

pub async fn list(
    Viewer { mut tx, who }: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    let (filter, cursor, errors) = parse(&query);
    let runs = if errors.is_empty() {
        runs_page(&mut tx, &filter, cursor, PAGE).await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    let body = html! {
        h1 { "Runs" }
        (form(&query))
        @if !errors.is_empty() {
            ul.error role="alert" #filter-errors {
                @for e in &errors { li { (e) } }
            }
        } @else if runs.is_empty() {
            p.empty #no-runs { "No runs match." }
        } @else {
            (table(&runs))
            (pager(&query, &runs, cursor))
        }
    };
    let mut page = who.shell("Runs", "/runs").render(body);
    if !errors.is_empty() {
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(page.into_response())
}

fn parse(query: &ListQuery) -> (RunFilter, RunCursor, Vec<String>) {
    let mut errors = Vec::new();
    let mut filter = RunFilter::default();
    let given = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(s) = given(&query.status) {
        match s.parse::<RunStatus>() {
            Ok(status) => filter.status = Some(status),
            Err(e) => errors.push(format!("status: {e}")),
        }
    }
    for (name, text, slot) in [
        ("from", &query.since, &mut filter.since),
        ("to", &query.until, &mut filter.until),
    ] {
        if let Some(t) = given(text) {
            match instant(&t) {
                Some(at) => *slot = Some(at),
                None => errors.push(format!(
                    "{name}: {t:?} is not a time (YYYY-MM-DDTHH:MM, UTC, or RFC 3339)"
                )),
            }
        }
    }
    if let Some(c) = given(&query.correlation) {
        match c.parse::<CorrelationId>() {
            Ok(id) => filter.correlation = Some(id),
            Err(e) => errors.push(format!("correlation id: {e}")),
        }
    }
    filter.search = given(&query.q);
    let id = |name: &str, text: &Option<String>, errors: &mut Vec<String>| {
        text.as_deref().and_then(|t| match t.parse::<RunId>() {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                None
            }
        })
    };
    let cursor = match (
        id("before", &query.before, &mut errors),
        id("after", &query.after, &mut errors),
    ) {
        (Some(before), _) => RunCursor::Before(before),
        (None, Some(after)) => RunCursor::After(after),
        _ => RunCursor::Newest,
    };
    (filter, cursor, errors)
}

/// A time as a datetime-local field sends it (taken as UTC), or RFC 3339.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
                .map(|t| t.and_utc())
        })
}

fn form(query: &ListQuery) -> Markup {
    html! {
        form.filters #run-filters method="get" action="/runs" role="search" {
            div.field.wide {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(query.q)
                    placeholder="run id, correlation id or source id" accesskey="s";
            }
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "any" }
                    @for s in RunStatus::ALL {
                        option value=(s.as_str()) selected[query.status == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            div.field {
                label for="since" { "Created from (UTC)" }
                input #since type="datetime-local" name="since" value=(query.since);
            }
            div.field {
                label for="until" { "to" }
                input #until type="datetime-local" name="until" value=(query.until);
            }
            div.field.wide {
                label for="correlation" { "Correlation id" }
                input #correlation type="text" name="correlation" value=(query.correlation) spellcheck="false";
            }
            div.actions {
                button type="submit" { "Filter" }
                " "
                a href="/runs" { "Clear" }
            }
        }
    }
}

fn table(runs: &[RunSummary]) -> Markup {
    html! {
        div.scroll {
            table #runs {
                caption.visually-hidden { "Runs, newest first" }
                thead {
                    tr {
                        th scope="col" { "Run" }
                        th scope="col" { "Status" }
                        th scope="col" { "Channel" }
                        th scope="col" { "Source id" }
                        th scope="col" { "Started" }
                        th scope="col" { "Duration" }
                        th scope="col" { "Steps" }
                    }
                }
                tbody {
                    @for r in runs {
                        tr data-run=(r.id) {
                            td { a href={"/runs/" (r.id)} { code { (short(&r.id.to_string())) } } }
                            td { (status(r.status.as_str())) }
                            td { (r.channel) }
                            td.source { (r.source_id) }
                            td { (when(r.started_at.or(Some(r.received_at)))) }
                            td { (duration(r.started_at, r.finished_at)) }
                            td.steps {
                                (r.steps_completed) "/" (r.steps) " done"
                                @if r.steps_failed > 0 { ", " span.bad { (r.steps_failed) " failed" } }
                                @if r.retries > 0 { ", " (r.retries) " retries" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn pager(query: &ListQuery, runs: &[RunSummary], cursor: RunCursor) -> Markup {
    let full = runs.len() as i64 == PAGE;
    let (newer, older) = match cursor {
        RunCursor::Newest => (false, full),
        RunCursor::Before(_) => (true, full),
        RunCursor::After(_) => (full, true),
    };
    html! {
        nav.pager aria-label="Pages" {
            @if newer {
                @if let Some(first) = runs.first() {
                    a rel="prev" href=(page_link(query, "after", first.id)) { "← Newer" }
                }
            }
            @if older {
                @if let Some(last) = runs.last() {
                    a rel="next" href=(page_link(query, "before", last.id)) { "Older →" }
                }
            }
        }
    }
}

/// The list with the same filters, from `cursor` (`before` or `after`) `id`.
fn page_link(query: &ListQuery, cursor: &str, id: RunId) -> String {
    let mut link = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("status", &query.status),
        ("since", &query.since),
        ("until", &query.until),
        ("correlation", &query.correlation),
        ("q", &query.q),
    ] {
        if !value.trim().is_empty() {
            link.append_pair(key, value);
        }
    }
    format!(
        "/runs?{}",
        link.append_pair(cursor, &id.to_string()).finish()
    )
}

/// The last 8 hex digits of a UUID: its random part, which tells ids made
/// in the same minute apart (the first digits of a UUIDv7 are its time);
/// the link and the run page carry the whole id.
pub fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}
