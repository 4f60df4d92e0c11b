//! `pplane check schema|data`: a PASS/FAIL table with evidence; exit 1 on any FAIL.

use std::process::ExitCode;

use pplane_store::checks::data::data_check;
use pplane_store::checks::schema_check;
use pplane_store::{Admin, MigrationSet};

use crate::args::{CheckGate, Output};
use crate::failure::Failure;
use crate::{output, target};

pub async fn run(gate: CheckGate, out: Output) -> Result<ExitCode, Failure> {
    let url = target::resolve().await?;
    let mut admin = Admin::connect(&url).await?;
    let (report, name) = match gate {
        CheckGate::Schema => (
            schema_check(&mut admin, &MigrationSet::embedded()).await?,
            "schema gate",
        ),
        CheckGate::Data => (data_check(&mut admin).await?, "data gate"),
    };
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
        println!("{name}: {} checks, {failed} FAIL", report.results.len());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
