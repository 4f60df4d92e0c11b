//! `pplane migrate up|down [--to VERSION]|status`.

use std::process::ExitCode;

use pplane_store::migrations::{Loss, MigrationState, MigrationStep};
use pplane_store::{Admin, MigrationSet};

use crate::args::{MigrateAction, Output};
use crate::failure::Failure;
use crate::output::outln;
use crate::{output, target};

pub async fn run(action: MigrateAction, out: Output) -> Result<ExitCode, Failure> {
    let url = target::resolve().await?;
    let mut admin = Admin::connect(&url).await?;
    let set = MigrationSet::embedded();
    let print_step = |s: &MigrationStep| {
        if !out.json {
            outln!(
                "{:<5} {} {} ({} ms)",
                s.direction,
                s.version,
                s.description,
                s.elapsed_ms
            );
        }
    };
    match action {
        MigrateAction::Up { to } => {
            let steps = admin.migrate_up(&set, to, print_step).await?;
            finish(out, &steps, "up to date: nothing to apply");
        }
        MigrateAction::Down { to, yes } => {
            let losses = admin.migrate_down_losses(&set, to).await?;
            if !losses.is_empty() && !yes && !confirmed(&losses)? {
                return Err(Failure::Operation(anyhow::anyhow!(
                    "refusing to roll back: it would drop {}. Nothing was changed; run again \
                     with --yes to drop them",
                    describe(&losses)
                )));
            }
            let steps = admin.migrate_down(&set, to, print_step).await?;
            finish(out, &steps, "nothing to roll back");
        }
        MigrateAction::Status => {
            let rows = admin.migrate_status(&set).await?;
            if out.json {
                output::json(&rows);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.version.to_string(),
                            format!("{:?}", r.state).to_lowercase(),
                            r.applied_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                            r.description.clone(),
                        ]
                    })
                    .collect();
                output::table(&["VERSION", "STATE", "APPLIED AT", "DESCRIPTION"], &table);
            }
            let bad = rows
                .iter()
                .any(|r| matches!(r.state, MigrationState::Edited | MigrationState::Unknown));
            if bad {
                return Ok(ExitCode::from(1));
            }
        }
    }
    admin.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// "table runs (12 rows), column outbox_events.attempt (of 40 rows)".
fn describe(losses: &[Loss]) -> String {
    losses
        .iter()
        .map(|l| match (l.rows, l.object.starts_with("column")) {
            (None, _) => l.object.clone(),
            (Some(n), false) => format!("{} ({})", l.object, rows(n)),
            (Some(n), true) => format!("{} (of {})", l.object, rows(n)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn rows(n: i64) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

/// On a terminal, lists what would be dropped and asks for a typed "yes";
/// elsewhere (scripts, CI) the answer is no, and --yes is the way to say yes.
fn confirmed(losses: &[Loss]) -> Result<bool, Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprintln!("This rollback drops, with everything in them:");
    for l in losses {
        eprintln!("  {}", describe(std::slice::from_ref(l)));
    }
    eprint!("Type yes to drop them: ");
    std::io::stderr().flush().map_err(anyhow::Error::from)?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(anyhow::Error::from)?;
    Ok(answer.trim() == "yes")
}

fn finish(out: Output, steps: &[MigrationStep], nothing: &str) {
    if out.json {
        output::json(&steps);
    } else if steps.is_empty() {
        outln!("{nothing}");
    }
}
