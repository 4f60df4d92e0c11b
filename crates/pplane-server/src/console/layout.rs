//! The frame every console page shares, and how values are shown: times,
//! durations, statuses, JSON. Every value goes through maud, which escapes
//! it; the assets are the console's own, so the Content-Security-Policy
//! allows nothing else.

use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use pplane_domain::ApiScope;

/// The navigation: path and label; `current` marks one as the page's.
const NAV: &[(&str, &str)] = &[
    ("/runs", "Runs"),
    ("/dead-letters", "Dead letters"),
    ("/outbox", "Outbox"),
];

/// A signed-in page's frame.
pub struct Shell {
    pub title: String,
    pub current: &'static str,
    pub tenant: String,
    pub scope: ApiScope,
    pub csrf: String,
}

impl Shell {
    pub fn render(self, body: Markup) -> Response {
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                (head(&self.title))
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        a.brand href="/runs" { "pplane" }
                        nav aria-label="Console" {
                            ul {
                                @for (path, label) in NAV {
                                    li {
                                        @if *path == self.current {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        div.who {
                            span title="The key's tenant: every page shows this tenant only" {
                                "tenant " code #tenant { (self.tenant) }
                            }
                            " "
                            span.scope #scope { (self.scope.as_str()) }
                            form.inline method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(self.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                    main #main tabindex="-1" { (body) }
                }
            }
        };
        Html(page.into_string()).into_response()
    }
}

/// A page without the signed-in frame: sign-in and errors.
pub fn bare_page(title: &str, body: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main { (body) }
            }
        }
    };
    Html(page.into_string())
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · pplane" }
            link rel="stylesheet" href=(super::assets::CSS_PATH);
            script src=(super::assets::JS_PATH) defer {}
        }
    }
}

/// An instant, readable and machine-readable.
pub fn when(at: Option<DateTime<Utc>>) -> Markup {
    match at {
        Some(at) => html! {
            time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S")) }
        },
        None => html! { span.none { "—" } },
    }
}

/// A span of time, in the unit that reads best.
pub fn duration(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> String {
    match (from, to) {
        (Some(from), Some(to)) => millis((to - from).num_milliseconds()),
        (Some(from), None) => format!("{} so far", millis((Utc::now() - from).num_milliseconds())),
        _ => "—".into(),
    }
}

pub fn millis(ms: i64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1e3),
        ms if ms < 3_600_000 => format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1_000),
        ms => format!("{}h {}m", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

/// A status as a badge; the class lets the stylesheet colour failures.
pub fn status(text: &str) -> Markup {
    let class = match text {
        "FAILED" | "DEAD_LETTER" | "CANCELLED" => "status bad",
        "COMPLETED" | "DELIVERED" | "SUCCEEDED" => "status good",
        "RUNNING" | "IN_FLIGHT" | "PENDING" | "RETRYING" => "status busy",
        _ => "status",
    };
    html! { span class=(class) data-status=(text) { (text) } }
}

/// A JSON value, folded under `label`.
pub fn json(label: &str, value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! {
        details.json {
            summary { (label) }
            pre { code { (text) } }
        }
    }
}

/// An error's message for one line: its `message` field if it has one.
pub fn error_line(value: &serde_json::Value) -> String {
    let last = value.get("last").unwrap_or(value);
    match last.get("message").or_else(|| last.get("error")) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => last.to_string(),
    }
}
