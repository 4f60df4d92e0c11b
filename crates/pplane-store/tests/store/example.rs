//! The Rust example (`examples/drive_a_run.rs`) drives a whole run through
//! the public API on a real database, and its trace reads as a tree.

#[allow(dead_code)]
#[path = "../../examples/drive_a_run.rs"]
mod drive_a_run;

use pplane_store::testing::TestDb;

#[tokio::test]
async fn the_example_drives_a_run_and_tells_it_as_a_tree() {
    let db = TestDb::migrated().await;
    let lines = drive_a_run::drive(db.url()).await.unwrap();
    let text = lines.join("\n");
    assert!(lines[0].contains(": 19 events"), "{text}");
    for part in [
        "   0 SIGNAL_RECEIVED",
        "   2    └─ RUN_STARTED",
        // The two lookups of one step are siblings under its start.
        "   5       │     ├─ TOOL_CALL_STARTED\n   6       │     │  └─ TOOL_CALL_COMPLETED\n   5       │     ├─ TOOL_CALL_STARTED",
        "STEP_RETRY_SCHEDULED",
        "CHECKPOINT_SAVED",
        "EFFECT_REQUESTED",
        "└─ RUN_COMPLETED",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM orchestration_events").await,
        19
    );
}
