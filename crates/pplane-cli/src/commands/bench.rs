//! `pplane bench NAME`: one row per scenario with its raw baseline and the
//! ratio; progress on stderr, results on stdout.

use std::process::ExitCode;

use pplane_store::bench::{append, cleanup, rls, trace, BenchRow};

use crate::args::{BenchScenario, Output};
use crate::failure::Failure;
use crate::{output, target};

pub async fn run(scenario: BenchScenario, out: Output) -> Result<ExitCode, Failure> {
    let url = target::resolve().await?;
    let progress = |msg: &str| eprintln!("bench: {msg}");
    let rows = match scenario {
        BenchScenario::Append {
            seconds,
            writers,
            tenants,
            peer,
        } => {
            if !(seconds > 0.0 && seconds <= 600.0) {
                return Err(Failure::Usage(
                    "--seconds must be more than 0 and at most 600".into(),
                ));
            }
            let mut cfg = append::AppendBench {
                seconds,
                peer: peer.is_some(),
                ..Default::default()
            };
            if let (Some(w), Some(t)) = (writers, tenants) {
                if w == 0 || t == 0 || w > 256 || t > 1000 {
                    return Err(Failure::Usage(
                        "--writers must be 1 to 256 and --tenants 1 to 1000".into(),
                    ));
                }
                cfg.scenarios = vec![(w, t)];
            }
            append::run(&url, &cfg, progress).await?
        }
        BenchScenario::Outbox {
            backlog,
            rate,
            seconds,
            tenants,
            noisy_backlog,
        } => {
            let valid = (1..=1_000_000).contains(&backlog)
                && (1..=1_000_000).contains(&noisy_backlog)
                && (1..=20_000).contains(&rate)
                && seconds > 0.0
                && seconds <= 600.0
                && (1..=1_000).contains(&tenants);
            if !valid {
                return Err(Failure::Usage(
                    "--backlog and --noisy-backlog 1..1000000, --rate 1..20000, --seconds (0, 600], \
                     --tenants 1..1000"
                        .into(),
                ));
            }
            let cfg = pplane_worker::bench::OutboxBench {
                backlog,
                rate,
                seconds,
                tenants,
                noisy_backlog,
            };
            pplane_worker::bench::run(&url, &cfg, progress)
                .await
                .map_err(|e| Failure::Operation(e.into()))?
        }
        BenchScenario::Api { seconds, clients } => {
            if !(seconds > 0.0 && seconds <= 600.0) || clients.is_some_and(|c| c == 0 || c > 256) {
                return Err(Failure::Usage(
                    "--seconds must be more than 0 and at most 600, --clients 1 to 256".into(),
                ));
            }
            let mut cfg = pplane_server::bench::ApiBench {
                seconds,
                ..Default::default()
            };
            if let Some(c) = clients {
                cfg.clients = vec![c];
            }
            pplane_server::bench::run(&url, &cfg, progress).await?
        }
        BenchScenario::Trace {
            background_events,
            steps,
            iterations,
        } => {
            if steps == 0 || iterations == 0 || background_events > 50_000_000 {
                return Err(Failure::Usage(
                    "--steps and --iterations must be at least 1, --background-events at most 50000000"
                        .into(),
                ));
            }
            let cfg = trace::TraceBench {
                background_events,
                steps,
                iterations,
            };
            trace::run(&url, cfg, progress).await?
        }
        BenchScenario::Jobs {
            rows,
            checkpoints,
            seconds,
        } => {
            if rows == 0 || rows > 50_000_000 || !(seconds > 0.0 && seconds <= 600.0) {
                return Err(Failure::Usage(
                    "--rows must be 1 to 50000000 and --seconds more than 0 and at most 600".into(),
                ));
            }
            let cfg = cleanup::CleanupBench {
                rows,
                checkpoints,
                seconds,
            };
            cleanup::run(&url, &cfg, progress).await?
        }
        BenchScenario::Rls {
            tenants,
            rows_per_tenant,
            iterations,
        } => {
            if tenants == 0 || rows_per_tenant == 0 || iterations == 0 {
                return Err(Failure::Usage(
                    "--tenants, --rows-per-tenant and --iterations must be at least 1".into(),
                ));
            }
            let cfg = rls::RlsBench {
                tenants,
                rows_per_tenant,
                iterations,
            };
            rls::run(&url, cfg, progress).await?
        }
    };
    print(&rows, out);
    Ok(ExitCode::SUCCESS)
}

fn print(rows: &[BenchRow], out: Output) {
    if out.json {
        output::json(&rows);
        return;
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.scenario.clone(),
                r.concurrency.to_string(),
                format!("{:.3}", r.p50_ms),
                format!("{:.3}", r.p95_ms),
                format!("{:.3}", r.p99_ms),
                format!("{:.3}", r.p999_ms),
                format!("{:.0}", r.per_s),
                format!("{:.3}", r.raw_p50_ms),
                format!("{:.3}", r.raw_p99_ms),
                format!("{:.0}", r.raw_per_s),
                format!("{:.2}", r.ratio),
            ]
        })
        .collect();
    output::table(
        &[
            "SCENARIO",
            "CONC",
            "P50 MS",
            "P95 MS",
            "P99 MS",
            "P999 MS",
            "PER S",
            "RAW P50",
            "RAW P99",
            "RAW PER S",
            "RATIO",
        ],
        &table,
    );
}
