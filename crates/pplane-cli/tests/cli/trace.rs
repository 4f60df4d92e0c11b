//! `pplane trace` on a run the example script drove: text and JSON, by run id
//! and by correlation id; an unknown id is a clear failure.

use pplane_store::testing::TestDb;

use crate::support::{assert_contains_all, drive_example_run, pplane, Home};

#[tokio::test]
async fn a_driven_run_traces_as_text_and_json() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let ran = drive_example_run(db.url());
    let value = |name: &str| ran[name].clone();
    let (tenant, run, correlation) = (value("tenant"), value("run"), value("correlation"));

    let text = pplane(
        home.path(),
        Some(db.url()),
        &["trace", &run, "--tenant", &tenant],
    );
    assert_eq!(text.code, 0, "{text:?}");
    assert_contains_all(
        &text.stdout,
        &[
            "signal  zendesk/",
            "step 0 lookup-order  COMPLETED  retries 1",
            "tool orders.get  FAILED",
            "effect SEND_EMAIL",
            "timeline",
            "causation",
            "RUN_COMPLETED",
        ],
    );
    assert!(
        !text.stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );

    let json = pplane(
        home.path(),
        Some(db.url()),
        &["trace", &correlation, "--tenant", &tenant, "--json"],
    )
    .json();
    assert_eq!(json["correlation_id"], correlation.as_str());
    assert_eq!(json["runs"][0]["id"], run.as_str());
    assert_eq!(
        json["events"].as_array().unwrap().len(),
        json["chain"].as_array().unwrap().len()
    );

    let diagnosis = pplane(
        home.path(),
        Some(db.url()),
        &["diagnose", "run", &run, "--tenant", &tenant],
    );
    assert_eq!(diagnosis.code, 0, "{diagnosis:?}");
    assert_contains_all(
        &diagnosis.stdout,
        &[
            "step 0 lookup-order  COMPLETED  retries 1",
            "STEP_FAILED #",
            "orders service unavailable",
            "tool orders.get  FAILED",
        ],
    );
    let json = pplane(
        home.path(),
        Some(db.url()),
        &["diagnose", "run", &run, "--tenant", &tenant, "--json"],
    )
    .json();
    let troubled = json["troubled_steps"].as_array().unwrap();
    assert_eq!(troubled.len(), 1, "only the step that failed");
    assert_eq!(troubled[0]["failures"].as_array().unwrap().len(), 1);

    let unknown = pplane(
        home.path(),
        Some(db.url()),
        &["trace", &tenant, "--tenant", &tenant],
    );
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("nothing in tenant"), "{unknown:?}");
}
