//! `pplane check schema`: a PASS/FAIL table with evidence; exit 1 on any FAIL.

use std::process::ExitCode;

use pplane_store::checks::schema_check;
use pplane_store::{Admin, MigrationSet};

use crate::args::{CheckGate, Output};
use crate::failure::Failure;
use crate::{output, target};

pub async fn run(gate: CheckGate, out: Output) -> Result<ExitCode, Failure> {
    let CheckGate::Schema = gate;
    let url = target::resolve().await?;
    let mut admin = Admin::connect(&url).await?;
    let report = schema_check(&mut admin, &MigrationSet::embedded()).await?;
    admin.close().await?;
    let failed = report.failures().count();
    if out.json {
        output::json(&report);
    } else {
        let rows: Vec<Vec<String>> = report
            .results
            .iter()
            .map(|r| {
                vec![
                    if r.passed { "PASS" } else { "FAIL" }.to_owned(),
                    r.area.label().to_owned(),
                    r.check.clone(),
                    r.evidence.clone(),
                ]
            })
            .collect();
        output::table(&["RESULT", "AREA", "CHECK", "EVIDENCE"], &rows);
        println!();
        println!(
            "schema gate: {} checks, {failed} FAIL",
            report.results.len()
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
