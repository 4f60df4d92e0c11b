//! The production gate's items that no schema rule or data check can give:
//! section 9's operational readiness (the scheduled jobs, the runbooks, the
//! monitoring files) and its two latency targets, measured now.

use std::path::Path;
use std::time::{Duration, Instant};

use pplane_domain::JobResult;
use sqlx::{Connection, PgConnection};

use super::gate::{item, GateItem, Sample, Targets, Verdict};
use crate::bench::append::{self as append_bench, AppendBench};
use crate::queries::debugging::{DebugParam, DEBUG_QUERIES};
use crate::{Profile, Result};

const READINESS: &str = "9 Operational Readiness";
const PERFORMANCE: &str = "9 Performance";

/// How often each debugging query is timed.
const QUERY_RUNS: usize = 20;

fn not_applicable(section: &str, name: &str, why: String) -> GateItem {
    GateItem {
        section: section.into(),
        item: name.into(),
        verdict: Verdict::NotApplicable,
        evidence: why,
    }
}

/// Every scheduled job enabled, and its last successful run within two of
/// its intervals (docs/jobs.md).
pub(super) async fn jobs_automated(conn: &mut PgConnection) -> Result<GateItem> {
    let name =
        "cleanup jobs automated (every job scheduled, its last success within two intervals)";
    let health = crate::queries::jobs::health(&mut *conn).await?;
    let now = chrono::Utc::now();
    let mut fine = Vec::new();
    let mut wrong = Vec::new();
    for h in &health {
        let (job, every) = (h.job, h.every_s);
        let since = h
            .last_success
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1e3);
        let failed = match (&h.last_result, &h.last_error) {
            (Some(JobResult::Failed), Some(e)) => {
                format!("; its last run failed: {}", pplane_domain::text::preview(e))
            }
            _ => String::new(),
        };
        if !h.enabled {
            wrong.push(format!("{job} is disabled"));
            continue;
        }
        match since {
            None => wrong.push(format!("{job} never succeeded{failed}")),
            Some(s) if s > 2.0 * every => wrong.push(format!(
                "{job} last succeeded {} ago, late after {}{failed}",
                span(s),
                interval(2.0 * every)
            )),
            Some(s) => fine.push(format!("{job} every {}: {} ago", interval(every), span(s))),
        }
    }
    let passed = wrong.is_empty() && !health.is_empty();
    let evidence = if passed {
        fine.join("; ")
    } else {
        format!(
            "{} (run `pplane jobs run`, host them with `pplane worker`, see `pplane jobs list`)",
            wrong.join("; ")
        )
    };
    Ok(item(READINESS, name, passed, evidence))
}

/// Due entries are being taken: the oldest due entry nobody holds has
/// waited less than five minutes (the PplaneOutboxStalled alert's bound).
/// A worker's polling is not visible to the database; its effect is.
pub(super) async fn outbox_drained(conn: &mut PgConnection) -> Result<GateItem> {
    let name = "the outbox is drained: no due entry has waited 5 minutes";
    let (due, oldest): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM now() - min(available_at))::float8
         FROM outbox_events
         WHERE status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()",
    )
    .fetch_one(&mut *conn)
    .await?;
    let waited = oldest.unwrap_or(0.0);
    let evidence = match due {
        0 => "no entry is due".to_owned(),
        n => format!("{n} due, the oldest has waited {}", span(waited)),
    };
    let evidence = if waited < 300.0 {
        evidence
    } else {
        format!("{evidence}: is a worker running? (`pplane worker`, `pplane outbox stats`)")
    };
    Ok(item("6 Outbox", name, waited < 300.0, evidence))
}

/// An interval as it was set: `5m`, `1h`, `7d` (the largest whole unit).
fn interval(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        _ if s > 0 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s > 0 && s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        _ if s > 0 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// `90s`, `12m`, `3.5h`, `2.0d`.
fn span(secs: f64) -> String {
    match secs {
        s if s < 120.0 => format!("{s:.0}s"),
        s if s < 7_200.0 => format!("{:.0}m", s / 60.0),
        s if s < 172_800.0 => format!("{:.1}h", s / 3_600.0),
        s => format!("{:.1}d", s / 86_400.0),
    }
}

/// The runbooks' index names each runbook, and each exists with a title.
pub(super) fn runbooks_documented(workspace: Option<&Path>) -> GateItem {
    let name = "runbooks documented (each runbook the index names exists)";
    let Some(root) = workspace.filter(|w| w.join("docs/runbooks/README.md").is_file()) else {
        return not_applicable(
            READINESS,
            name,
            "not run from a source checkout: the runbooks are docs/runbooks/ in the repository"
                .into(),
        );
    };
    let dir = root.join("docs/runbooks");
    let index = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default();
    let named = linked_files(&index);
    let missing: Vec<String> = named
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            !text.lines().any(|l| l.starts_with("# "))
        })
        .cloned()
        .collect();
    let passed = !named.is_empty() && missing.is_empty();
    let evidence = if passed {
        format!(
            "docs/runbooks/README.md names {} runbooks, each present: {}",
            named.len(),
            named.join(", ")
        )
    } else if named.is_empty() {
        "docs/runbooks/README.md names no runbook".into()
    } else {
        format!(
            "named but missing or without a title: {}",
            missing.join(", ")
        )
    };
    item(READINESS, name, passed, evidence)
}

/// The `.md` files a Markdown text links to by a relative name, in order,
/// each once.
fn linked_files(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for part in text.split("](").skip(1) {
        let target = part.split(')').next().unwrap_or("");
        let file = target.split('#').next().unwrap_or("");
        if file.ends_with(".md") && !file.contains('/') && !found.iter().any(|f| f == file) {
            found.push(file.to_owned());
        }
    }
    found
}

/// The alert rules and the dashboard exist, every alert names a runbook
/// that exists, and the dashboard has panels; whether Prometheus scrapes
/// `pplane serve` is a second item the gate cannot know.
pub(super) fn monitoring(workspace: Option<&Path>) -> Vec<GateItem> {
    let files = "monitoring dashboards active: alert rules and dashboard in place";
    let scraped = "monitoring dashboards active: /metrics scraped";
    let scrape_na = not_applicable(
        READINESS,
        scraped,
        "the gate cannot see Prometheus: scrape `pplane serve`'s /metrics (or \
         --metrics-listen) under job \"pplane\"; PplaneDown fires when it cannot"
            .into(),
    );
    let Some(root) = workspace.filter(|w| w.join("deploy").is_dir()) else {
        let why = "not run from a source checkout: the rules and the dashboard are deploy/ in the repository";
        return vec![not_applicable(READINESS, files, why.into()), scrape_na];
    };
    let rules =
        std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap_or_default();
    let dashboard =
        std::fs::read_to_string(root.join("deploy/grafana/pplane.json")).unwrap_or_default();
    let alerts = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    let mut problems = Vec::new();
    if alerts == 0 {
        problems.push("deploy/prometheus/alerts.yml has no alert".to_owned());
    }
    for line in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook:"))
    {
        let path = line
            .trim()
            .trim_matches('"')
            .split('#')
            .next()
            .unwrap_or("");
        if !root.join(path).is_file() {
            problems.push(format!(
                "an alert names runbook {path}, which does not exist"
            ));
        }
    }
    let panels = serde_json::from_str::<serde_json::Value>(&dashboard)
        .ok()
        .and_then(|d| d["panels"].as_array().map(Vec::len))
        .unwrap_or(0);
    if panels == 0 {
        problems.push("deploy/grafana/pplane.json is missing, not JSON, or has no panel".into());
    }
    let passed = problems.is_empty();
    let evidence = if passed {
        format!(
            "deploy/prometheus/alerts.yml: {alerts} alerts, each with a runbook that exists; \
             deploy/grafana/pplane.json: {panels} panels"
        )
    } else {
        problems.join("; ")
    };
    vec![item(READINESS, files, passed, evidence), scrape_na]
}

/// Event appends through the full path, one writer for two seconds in a
/// scratch database on this server (the append benchmark's own scenario):
/// the p99 against the target (the walkthrough's 10 ms).
pub(super) async fn append_latency(url: &str, targets: Targets) -> Result<GateItem> {
    let name = format!(
        "event append latency < {} ms (p99, measured now)",
        targets.append_p99_ms
    );
    let name = name.as_str();
    let bench = AppendBench {
        scenarios: vec![(1, 1)],
        seconds: 2.0,
        peer: false,
    };
    let rows = append_bench::run(url, &bench, |_| {}).await?;
    let Some(row) = rows.first() else {
        return Ok(not_applicable(
            PERFORMANCE,
            name,
            "the measurement returned nothing".into(),
        ));
    };
    let passed = row.p99_ms < targets.append_p99_ms;
    let evidence = format!(
        "1 writer, 2 s in a scratch database on this server: p50 {:.2} ms, p99 {:.2} ms \
         ({:.0} appends a second; a bare INSERT: p99 {:.2} ms)",
        row.p50_ms, row.p99_ms, row.per_s, row.raw_p99_ms
    );
    Ok(item(PERFORMANCE, name, passed, evidence))
}

/// The debugging procedure's read queries, each run [`QUERY_RUNS`] times
/// against the live data as pplane_app in the newest run's tenant, read
/// only: their p95 against the target (the walkthrough's 100 ms).
pub(super) async fn query_latency(
    conn: &mut PgConnection,
    sample: Option<&Sample>,
    targets: Targets,
) -> Result<GateItem> {
    let name = format!(
        "query response time < {} ms (p95, measured now)",
        targets.query_p95_ms
    );
    let name = name.as_str();
    let Some(s) = sample else {
        return Ok(not_applicable(PERFORMANCE, name, "no runs to query".into()));
    };
    let mut times = Vec::new();
    let mut slowest = (Duration::ZERO, "");
    let citus = Profile::detect(&mut *conn).await? == Profile::Citus;
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *tx)
        .await?;
    if citus {
        sqlx::raw_sql(super::probe::PROPAGATE)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "SELECT set_config('role', 'pplane_app', true), set_config('app.tenant_id', $1, true),
                set_config('app.user_id', $2, true)",
    )
    .bind(s.tenant.to_string())
    .bind(s.principal.to_string())
    .execute(&mut *tx)
    .await?;
    for q in DEBUG_QUERIES.iter().filter(|q| q.sql.starts_with("SELECT")) {
        let id = match q.param {
            DebugParam::CorrelationId => Some(s.correlation),
            DebugParam::RunId => Some(s.run),
            DebugParam::StepId => s.step,
            DebugParam::EffectId => s.effect,
            DebugParam::OutboxId => s.outbox,
        };
        let Some(id) = id else { continue };
        for _ in 0..QUERY_RUNS {
            let started = Instant::now();
            // On Citus the tenant is spelled out, as an operator types it there.
            if citus {
                sqlx::query(q.routed)
                    .bind(id)
                    .bind(s.tenant)
                    .fetch_all(&mut *tx)
                    .await?;
            } else {
                sqlx::query(q.sql).bind(id).fetch_all(&mut *tx).await?;
            }
            let took = started.elapsed();
            if took > slowest.0 {
                slowest = (took, q.name);
            }
            times.push(took);
        }
    }
    tx.rollback().await?;
    if times.is_empty() {
        return Ok(not_applicable(PERFORMANCE, name, "no row to query".into()));
    }
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p95 = ms(at(0.95));
    let evidence = format!(
        "{} runs of the debugging procedure's reads on the live data: p50 {:.2} ms, p95 {:.2} ms; \
         slowest {:.2} ms ({})",
        times.len(),
        ms(at(0.5)),
        p95,
        ms(slowest.0),
        slowest.1
    );
    Ok(item(
        PERFORMANCE,
        name,
        p95 < targets.query_p95_ms,
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_read_once_each_without_anchors_or_paths() {
        let text =
            "| [a.md](a.md) | x |\n[b](b.md#step) [a again](a.md) [up](../c.md) [site](https://x)";
        assert_eq!(linked_files(text), vec!["a.md", "b.md"]);
    }

    #[test]
    fn spans_read_as_an_operator_would_say_them() {
        assert_eq!(span(59.0), "59s");
        assert_eq!(span(600.0), "10m");
        assert_eq!(span(3.5 * 3600.0), "3.5h");
        assert_eq!(span(8.0 * 86_400.0), "8.0d");
        assert_eq!(interval(3600.0), "1h");
        assert_eq!(interval(7.0 * 86_400.0), "7d");
        assert_eq!(interval(90.0), "90s");
    }
}
