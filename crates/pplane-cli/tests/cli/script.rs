//! examples/drive-a-run.sh drives a whole run with nothing but `pplane`
//! commands, and every row it writes carries the signal's correlation id.

use std::process::Command;

use pplane_store::testing::TestDb;

#[tokio::test]
async fn a_shell_script_drives_a_run_to_completion() {
    let db = TestDb::migrated().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/drive-a-run.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("PPLANE", env!("CARGO_BIN_EXE_pplane"))
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let correlation = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("correlation="))
        .expect("the script prints the correlation id");

    let tables = [
        "signals",
        "runs",
        "steps",
        "tool_calls",
        "run_checkpoints",
        "effects",
        "outbox_events",
        "orchestration_events",
    ];
    for table in tables {
        let same = db
            .scalar(&format!(
                "SELECT count(*) FROM {table} WHERE correlation_id = '{correlation}'"
            ))
            .await;
        let other = db
            .scalar(&format!(
                "SELECT count(*) FROM {table} WHERE correlation_id <> '{correlation}'"
            ))
            .await;
        assert!(
            same > 0 && other == 0,
            "{table}: {same} rows with the run's correlation id, {other} without"
        );
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM runs WHERE status = 'COMPLETED'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM steps WHERE status = 'COMPLETED'")
            .await,
        2
    );
    assert_eq!(
        db.scalar("SELECT max(retry_count)::bigint FROM steps")
            .await,
        1,
        "one retry"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM tool_calls WHERE status = 'FAILED'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM outbox_events WHERE status = 'PENDING'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM orchestration_events").await,
        19
    );
    let roots = db
        .scalar("SELECT count(*) FROM orchestration_events WHERE causation_id IS NULL")
        .await;
    assert_eq!(roots, 1, "only SIGNAL_RECEIVED has no cause");
}
