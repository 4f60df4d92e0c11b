//! `pplane demo`: runs the whole plane in the database every other command
//! uses (the embedded default, or `DATABASE_URL`), then prints a trace, the
//! diagnoses and the production gate, each under the command that shows it
//! again, and the commands to try next; exit 1 if the gate fails.
//!
//! The demo only adds: new tenants with their own runs each time, next to
//! whatever the database holds, so running it again is safe.

use std::process::ExitCode;

use pplane_demo::{DemoOptions, DemoReport};
use pplane_domain::ApiScope;
use pplane_jobs::{Jobs, JobsConfig, Ran};
use pplane_store::checks::gate::{production_gate, GateOptions, Verdict};
use pplane_store::operations::api_keys::api_key_create;
use pplane_store::queries::diagnose::{diagnose_effect, diagnose_run};
use pplane_store::queries::trace::trace_load;
use pplane_store::{Admin, MigrationSet, Store};

use super::check::gate_markdown;
use super::{diagnose, trace};
use crate::args::{DemoArgs, LatencyTargets, Output};
use crate::failure::Failure;
use crate::output::{out, outln};
use crate::{output, paint, target};

pub async fn run(args: DemoArgs, out: Output) -> Result<ExitCode, Failure> {
    if args.tenants == 0 || args.runs == 0 || args.tenants > 1000 || args.runs > 1000 {
        return Err(Failure::Usage(
            "--tenants and --runs must be 1 to 1000".into(),
        ));
    }
    let url = target::resolve().await?;
    let progress = |msg: &str| eprintln!("demo: {msg}");
    let mut admin = Admin::connect(&url).await?;
    let applied = admin
        .migrate_up(&MigrationSet::embedded(), None, |_| {})
        .await?;
    admin.close().await?;
    progress(&if applied.is_empty() {
        "the database is already migrated: adding new tenants next to what it holds".to_owned()
    } else {
        format!("migrated a new database ({} migrations)", applied.len())
    });

    let opts = DemoOptions {
        tenants: args.tenants,
        runs: args.runs,
        webhook: args.webhook,
        no_worker: args.no_worker,
    };
    let report = pplane_demo::run(&url, &opts, progress)
        .await
        .map_err(|e| Failure::Operation(e.into()))?;
    // The scheduled jobs, once, as a worker that hosts them would: the gate
    // asks that each has run within two of its intervals.
    let store = target::runtime_store().await?;
    let holder = format!("pplane-demo:{}", std::process::id());
    let jobs = Jobs::new(
        store.clone(),
        url.clone(),
        JobsConfig {
            holder,
            ..JobsConfig::default()
        },
    );
    for ran in jobs
        .run_once(None, false)
        .await
        .map_err(|e| Failure::Operation(e.into()))?
    {
        progress(&match ran {
            Ran::Ran { run } => format!(
                "scheduled job {}: {} ({} rows)",
                run.job,
                run.result,
                run.rows.unwrap_or(0)
            ),
            Ran::NotDue { job } => format!("scheduled job {job}: ran within its interval already"),
            Ran::Held { job } => format!("scheduled job {job}: running in another process"),
        });
    }
    store.close().await;
    progress("running the production gate");
    let opts = GateOptions {
        targets: args.targets.into(),
        ..GateOptions::here(true)
    };
    let gate = production_gate(&url, &opts).await?;
    let failed = gate.iter().any(|i| i.verdict == Verdict::Fail);

    if out.json {
        output::json(&serde_json::json!({ "demo": report, "gate": gate }));
    } else {
        out!("{}", summary(&report));
        let (text, next) = stories(&url, &report, args.targets).await?;
        out!("{text}");
        out!("\n{}", gate_markdown(&gate));
        out!(
            "\n{}\n",
            paint::bold("Try these next: they work on the same database")
        );
        for cmd in next {
            outln!("  $ {cmd}");
        }
        out!("{}", console_hint(&url, &report).await?);
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// How to look at the demo's first tenant in the console: an operator key
/// made for it now (its secret printed here once), and where to use it.
/// (Not a `$` line: `pplane serve` runs until stopped.)
async fn console_hint(url: &str, r: &DemoReport) -> Result<String, Failure> {
    let Some(&(tenant, user)) = r.driven.tenants.first() else {
        return Ok(String::new());
    };
    let store = Store::connect(url).await?;
    let mut tx = store.tenant_tx(tenant, user).await?;
    let created = api_key_create(&mut tx, "demo console", ApiScope::Operator, None).await?;
    tx.commit().await?;
    store.close().await;
    let pplane = target::self_command();
    Ok(format!(
        "\n{}\n  Run `{pplane} serve --worker`, open http://127.0.0.1:7878/ and sign in with\n  \
         this operator key of tenant {tenant} (shown once):\n  {}\n  \
         It works until `{pplane} apikey revoke {} --tenant {tenant} --user {user}`.\n",
        paint::bold("See it in the console"),
        created.text,
        created.key.id,
    ))
}

fn summary(r: &DemoReport) -> String {
    let d = &r.driven;
    format!(
        "{}\n  {} tenants, {} signals ({} duplicate ignored), {} runs, {} effects\n  \
         outbox: {} delivered, {} dead letters, {} waiting; the receiver saw {} requests\n",
        paint::bold("pplane demo"),
        d.tenants.len(),
        d.signals,
        d.duplicate_signals,
        d.runs,
        d.effects,
        r.delivered,
        r.dead_letters,
        r.pending,
        r.receiver_requests,
    )
}

/// The trace of a completed run, the diagnosis of a failed one and of the
/// dead letter, read as the plane's service principal, each under the
/// command that shows it again; then the commands to try next. Every
/// command is printed as this very binary is reached from here, so that it
/// works when pasted into the same shell.
async fn stories(
    url: &str,
    r: &DemoReport,
    targets: LatencyTargets,
) -> Result<(String, Vec<String>), Failure> {
    let pplane = target::self_command();
    let store = Store::connect(url).await?;
    let principal = store.delivery_principal().await?;
    let mut s = String::new();
    let mut next = Vec::new();
    let heading = |cmd: &str| format!("\n{}\n", paint::bold(&format!("$ {cmd}")));

    let (tenant, run) = r.driven.traced;
    let mut tx = store.tenant_tx(tenant, principal).await?;
    if let Some(t) = trace_load(&mut tx, run.as_uuid()).await? {
        let cmd = format!("{pplane} trace {run} --tenant {tenant}");
        s += &heading(&cmd);
        s += &trace::render(&t);
        next.push(cmd);
    }
    tx.commit().await?;
    if let Some((tenant, run)) = r.driven.failed {
        let mut tx = store.tenant_tx(tenant, principal).await?;
        if let Some(d) = diagnose_run(&mut tx, run).await? {
            let cmd = format!("{pplane} diagnose run {run} --tenant {tenant}");
            s += &heading(&cmd);
            s += &diagnose::render_run(&d);
            next.push(cmd);
        }
        tx.commit().await?;
    }
    if let Some((tenant, effect)) = r.driven.doomed {
        let member = r
            .driven
            .tenants
            .iter()
            .find(|(t, _)| *t == tenant)
            .map(|(_, user)| user.to_string());
        let mut tx = store.tenant_tx(tenant, principal).await?;
        if let Some(d) = diagnose_effect(&mut tx, effect).await? {
            let requeue = member.as_deref().and_then(|user| {
                let actor = format!("user:{user}");
                diagnose::requeue_command(&d, &pplane, &tenant.to_string(), user, Some(&actor))
            });
            let cmd = format!("{pplane} diagnose effect {effect} --tenant {tenant}");
            s += &heading(&cmd);
            s += &diagnose::render_effect(&d, requeue.as_deref());
            next.push(cmd);
            next.extend(requeue);
        }
        tx.commit().await?;
    }
    store.close().await;
    next.push(format!("{pplane} outbox stats"));
    // The gate as the demo ran it: its targets, if not the walkthrough's.
    next.push(format!("{pplane} check all{}", targets.flags()));
    Ok((s, next))
}
