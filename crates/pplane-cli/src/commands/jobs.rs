//! `pplane jobs list | run [JOB] [--now] | set JOB …`: the scheduled
//! operations. `run` exits 1 if a job it ran failed; the failure is
//! recorded with the run and shown by `list`.

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pplane_domain::{Job, JobResult, TenantId};
use pplane_jobs::{Jobs, JobsConfig, Ran};
use pplane_store::jobs::{
    job_policy_set, job_states, job_tenant_policy_set, JobState, PolicyChange,
};
use pplane_store::Admin;

use crate::acting::id;
use crate::args::{JobSetArgs, JobsAction, Output};
use crate::duration::duration;
use crate::failure::Failure;
use crate::output::outln;
use crate::{output, target};

pub async fn run(action: JobsAction, out: Output) -> Result<ExitCode, Failure> {
    match action {
        JobsAction::List => list(out).await,
        JobsAction::Run { job, now } => {
            run_jobs(job.as_deref().map(id).transpose()?, now, out).await
        }
        JobsAction::Set(args) => set(args, out).await,
    }
}

/// Hosts the jobs in a process that also serves or delivers (`worker`,
/// `serve --worker`) until `shutdown`: a job running then finishes first.
pub fn host(
    store: pplane_store::Store,
    url: String,
    holder: String,
    tick: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let jobs = Jobs::new(store, url, JobsConfig { holder, tick });
    tokio::spawn(async move { jobs.run(shutdown).await })
}

async fn list(out: Output) -> Result<ExitCode, Failure> {
    let mut admin = Admin::connect(&target::resolve().await?).await?;
    let states = job_states(&mut admin).await?;
    admin.close().await?;
    if out.json {
        output::json(&states);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = states.iter().map(row).collect();
    output::table(
        &[
            "job", "every", "keeps", "last run", "result", "rows", "next run",
        ],
        &rows,
    );
    for state in &states {
        for t in &state.tenants {
            outln!(
                "  {} for tenant {}: {}",
                state.policy.job,
                t.tenant_id,
                keeps(t.retention, t.keep_latest)
            );
        }
        if let Some(error) = state.last.as_ref().and_then(|r| r.error.as_deref()) {
            outln!("  {} last failed: {error}", state.policy.job);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(state: &JobState) -> Vec<String> {
    let p = &state.policy;
    let last = state.last.as_ref();
    vec![
        p.job.to_string(),
        span(p.every),
        keeps(p.retention, p.keep_latest),
        last.map_or("never".into(), |r| time(r.started_at)),
        last.map_or("-".into(), |r| r.result.to_string()),
        last.and_then(|r| r.rows)
            .map_or("-".into(), |n| n.to_string()),
        match state.next_at {
            Some(at) if at <= Utc::now() => "due now".into(),
            Some(at) => time(at),
            None => "disabled".into(),
        },
    ]
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `90s`, `5m`, `1h`, `7d`: the largest unit that divides it.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s > 0 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s > 0 && s.is_multiple_of(3_600) => format!("{}h", s / 3_600),
        _ if s > 0 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

fn keeps(retention: Option<Duration>, keep_latest: Option<u32>) -> String {
    match (retention, keep_latest) {
        (Some(r), Some(n)) => format!("{} and newest {n}", span(r)),
        (Some(r), None) => span(r),
        (None, Some(n)) => format!("newest {n}"),
        (None, None) => "-".into(),
    }
}

async fn run_jobs(only: Option<Job>, now: bool, out: Output) -> Result<ExitCode, Failure> {
    let url = target::resolve().await?;
    let store = target::runtime_store().await?;
    let config = JobsConfig {
        holder: format!("pplane-jobs-run:{}", std::process::id()),
        ..JobsConfig::default()
    };
    let ran = Jobs::new(store, url, config)
        .run_once(only, now)
        .await
        .map_err(|e| Failure::Operation(e.into()))?;
    let failed = ran
        .iter()
        .any(|r| matches!(r, Ran::Ran { run } if run.result == JobResult::Failed));
    if out.json {
        output::json(&ran);
    } else {
        for r in &ran {
            match r {
                Ran::Ran { run } if run.result == JobResult::Ok => outln!(
                    "{}: ran, {} rows, {:.1} s",
                    run.job,
                    run.rows.unwrap_or(0),
                    run.finished_at
                        .map_or(0.0, |f| (f - run.started_at).num_milliseconds() as f64
                            / 1e3)
                ),
                Ran::Ran { run } => outln!(
                    "{}: FAILED: {}",
                    run.job,
                    run.error.as_deref().unwrap_or("no reason recorded")
                ),
                Ran::NotDue { job } => outln!("{job}: not due (see `pplane jobs list`)"),
                Ran::Held { job } => outln!("{job}: running in another process"),
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn set(args: JobSetArgs, out: Output) -> Result<ExitCode, Failure> {
    let job: Job = id(&args.job)?;
    let retention = args
        .retention
        .as_deref()
        .map(|t| duration("--retention", t).map(|d| d.to_std().unwrap_or_default()))
        .transpose()?;
    let mut admin = Admin::connect(&target::resolve().await?).await?;
    if let Some(tenant) = &args.tenant {
        let tenant: TenantId = id(tenant)?;
        let (retention, keep) = if args.clear {
            (None, None)
        } else {
            (retention, args.keep_latest)
        };
        if !args.clear && retention.is_none() && keep.is_none() {
            return Err(Failure::Usage(
                "give --retention, --keep-latest or --clear with --tenant".into(),
            ));
        }
        job_tenant_policy_set(&mut admin, job, tenant, retention, keep).await?;
    } else {
        let change = PolicyChange {
            every: args
                .every
                .as_deref()
                .map(|t| duration("--every", t).map(|d| d.to_std().unwrap_or_default()))
                .transpose()?,
            enabled: (args.enable || args.disable).then_some(args.enable),
            retention: if args.no_retention {
                Some(None)
            } else {
                retention.map(Some)
            },
            keep_latest: if args.no_keep_latest {
                Some(None)
            } else {
                args.keep_latest.map(Some)
            },
        };
        job_policy_set(&mut admin, job, &change).await?;
    }
    let states = job_states(&mut admin).await?;
    admin.close().await?;
    let state = states
        .into_iter()
        .find(|s| s.policy.job == job)
        .ok_or_else(|| Failure::Operation(anyhow::anyhow!("job {job} vanished")))?;
    if out.json {
        output::json(&state);
    } else {
        output::table(
            &[
                "job", "every", "keeps", "last run", "result", "rows", "next run",
            ],
            &[row(&state)],
        );
        for t in &state.tenants {
            outln!(
                "  for tenant {}: {}",
                t.tenant_id,
                keeps(t.retention, t.keep_latest)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
