//! `pplane check schema|data|all`: PASS/FAIL with evidence; exit 1 on any FAIL.

use std::process::ExitCode;

use pplane_store::checks::data::data_check;
use pplane_store::checks::gate::{production_gate, GateItem, GateOptions, Verdict};
use pplane_store::checks::schema_check;
use pplane_store::{Admin, MigrationSet};

use crate::args::{CheckGate, Output};
use crate::failure::Failure;
use crate::output::{out, outln};
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
        CheckGate::All {
            no_backup_verify,
            targets,
        } => {
            admin.close().await?;
            let opts = GateOptions {
                targets: targets.into(),
                ..GateOptions::here(!no_backup_verify)
            };
            return all(&url, &opts, out).await;
        }
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
        outln!();
        outln!("{name}: {} checks, {failed} FAIL", report.results.len());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The production gate as a Markdown report, one table per section.
async fn all(url: &str, opts: &GateOptions, out: Output) -> Result<ExitCode, Failure> {
    let items = production_gate(url, opts).await?;
    let failed = items.iter().filter(|i| i.verdict == Verdict::Fail).count();
    if out.json {
        output::json(&items);
    } else {
        out!("{}", gate_markdown(&items));
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The production gate as Markdown: one table per section, then the totals.
pub(crate) fn gate_markdown(items: &[GateItem]) -> String {
    let count = |v: Verdict| items.iter().filter(|i| i.verdict == v).count();
    let mut s = String::from("# Production gate\n");
    let mut section = "";
    for i in items {
        if i.section != section {
            section = &i.section;
            s += &format!("\n## {section}\n\n| result | item | evidence |\n| --- | --- | --- |\n");
        }
        s += &format!(
            "| {} | {} | {} |\n",
            i.verdict.label(),
            i.item,
            i.evidence.replace('|', "\\|")
        );
    }
    s += &format!(
        "\n**{} items: {} PASS, {} FAIL, {} NOT APPLICABLE**\n",
        items.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::NotApplicable)
    );
    s
}
