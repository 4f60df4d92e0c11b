//! `pplane migrate up|down [--to VERSION]|status`.

use std::process::ExitCode;

use pplane_store::migrations::{MigrationState, MigrationStep};
use pplane_store::{Admin, MigrationSet};

use crate::args::{MigrateAction, Output};
use crate::failure::Failure;
use crate::{output, target};

pub async fn run(action: MigrateAction, out: Output) -> Result<ExitCode, Failure> {
    let url = target::resolve().await?;
    let mut admin = Admin::connect(&url).await?;
    let set = MigrationSet::embedded();
    let print_step = |s: &MigrationStep| {
        if !out.json {
            println!(
                "{:<5} {} {} ({} ms)",
                s.direction, s.version, s.description, s.elapsed_ms
            );
        }
    };
    match action {
        MigrateAction::Up { to } => {
            let steps = admin.migrate_up(&set, to, print_step).await?;
            finish(out, &steps, "up to date: nothing to apply");
        }
        MigrateAction::Down { to } => {
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

fn finish(out: Output, steps: &[MigrationStep], nothing: &str) {
    if out.json {
        output::json(&steps);
    } else if steps.is_empty() {
        println!("{nothing}");
    }
}
