//! `pplane demo`: runs the whole plane on the embedded default (in its own
//! database) or on `DATABASE_URL`, then prints a trace, a diagnosis and the
//! production gate; exit 1 if the gate fails.

use std::process::ExitCode;

use pplane_demo::{DemoOptions, DemoReport};
use pplane_store::checks::gate::{production_gate, GateOptions, Verdict};
use pplane_store::queries::diagnose::{diagnose_effect, diagnose_run};
use pplane_store::queries::trace::trace_load;
use pplane_store::{Admin, MigrationSet, Store};

use super::check::gate_markdown;
use super::{diagnose, trace};
use crate::args::{DemoArgs, Output};
use crate::failure::Failure;
use crate::{output, paint, target};

/// The embedded default's demo database.
const DEMO_DATABASE: &str = "pplane_demo";

pub async fn run(args: DemoArgs, out: Output) -> Result<ExitCode, Failure> {
    if args.tenants == 0 || args.runs == 0 || args.tenants > 1000 || args.runs > 1000 {
        return Err(Failure::Usage(
            "--tenants and --runs must be 1 to 1000".into(),
        ));
    }
    let url = match target::database_url_env() {
        Some(url) => url,
        None => target::embedded_database(DEMO_DATABASE).await?,
    };
    let progress = |msg: &str| eprintln!("demo: {msg}");
    progress("migrating");
    let mut admin = Admin::connect(&url).await?;
    admin
        .migrate_up(&MigrationSet::embedded(), None, |_| {})
        .await?;
    admin.close().await?;

    let opts = DemoOptions {
        tenants: args.tenants,
        runs: args.runs,
        webhook: args.webhook,
        no_worker: args.no_worker,
    };
    let report = pplane_demo::run(&url, &opts, progress)
        .await
        .map_err(|e| Failure::Operation(e.into()))?;
    progress("running the production gate");
    let gate = production_gate(&url, &GateOptions::here(true)).await?;
    let failed = gate.iter().any(|i| i.verdict == Verdict::Fail);

    if out.json {
        output::json(&serde_json::json!({ "demo": report, "gate": gate }));
    } else {
        print!("{}", summary(&report));
        print!("{}", stories(&url, &report).await?);
        print!("\n{}", gate_markdown(&gate));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
/// dead letter, read as the plane's service principal.
async fn stories(url: &str, r: &DemoReport) -> Result<String, Failure> {
    let store = Store::connect(url).await?;
    let principal = store.delivery_principal().await?;
    let mut s = String::new();
    let (tenant, run) = r.driven.traced;
    let mut tx = store.tenant_tx(tenant, principal).await?;
    if let Some(t) = trace_load(tx.conn(), tenant, run.as_uuid()).await? {
        s += &format!(
            "\n{}\n",
            paint::bold(&format!("$ pplane trace {run} --tenant {tenant}"))
        );
        s += &trace::render(&t);
    }
    tx.commit().await?;
    if let Some((tenant, run)) = r.driven.failed {
        let mut tx = store.tenant_tx(tenant, principal).await?;
        if let Some(d) = diagnose_run(tx.conn(), tenant, run.as_uuid()).await? {
            s += &format!(
                "\n{}\n",
                paint::bold(&format!("$ pplane diagnose run {run} --tenant {tenant}"))
            );
            s += &diagnose::render_run(&d);
        }
        tx.commit().await?;
    }
    if let Some((tenant, effect)) = r.driven.doomed {
        let mut tx = store.tenant_tx(tenant, principal).await?;
        if let Some(d) = diagnose_effect(tx.conn(), tenant, effect.as_uuid()).await? {
            let requeue = diagnose::requeue_command(&d, &tenant.to_string(), None);
            s += &format!(
                "\n{}\n",
                paint::bold(&format!(
                    "$ pplane diagnose effect {effect} --tenant {tenant}"
                ))
            );
            s += &diagnose::render_effect(&d, requeue.as_deref());
        }
        tx.commit().await?;
    }
    store.close().await;
    Ok(s)
}
