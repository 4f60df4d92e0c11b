//! `pplane projections refresh|rebuild`: the expendable read models. A
//! rebuild whose replay disagrees with the runtime tables changes nothing
//! and exits 1, naming the runs.

use std::process::ExitCode;

use pplane_store::projections::{projections_rebuild, projections_refresh};
use pplane_store::Admin;

use crate::args::{Output, ProjectionsAction};
use crate::failure::Failure;
use crate::output::outln;
use crate::{output, target};

pub async fn run(action: ProjectionsAction, out: Output) -> Result<ExitCode, Failure> {
    let url = target::resolve().await?;
    let mut admin = Admin::connect(&url).await?;
    let code = match action {
        ProjectionsAction::Refresh => {
            let done = projections_refresh(&mut admin).await?;
            if out.json {
                output::json(&done);
            } else {
                outln!("run_summary: {} runs, {} removed", done.rows, done.removed);
            }
            ExitCode::SUCCESS
        }
        ProjectionsAction::Rebuild => {
            let done = projections_rebuild(&mut admin).await?;
            if out.json {
                output::json(&done);
            } else if done.mismatches.is_empty() {
                outln!(
                    "run_summary: rebuilt from the event log, {} runs, equal to the runtime tables",
                    done.rows
                );
            } else {
                outln!(
                    "run_summary: the event log and the runtime tables disagree; nothing replaced"
                );
                for m in &done.mismatches {
                    outln!("  {m}");
                }
            }
            if done.mismatches.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    };
    admin.close().await?;
    Ok(code)
}
