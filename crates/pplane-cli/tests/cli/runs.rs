//! `pplane signal ingest` and `pplane run ...`: JSON out, typed failures
//! with the contract's exit codes.

use pplane_store::testing::TestDb;

use crate::support::{pplane, Home};

#[tokio::test]
async fn ingest_is_idempotent_and_run_commands_report_errors() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let created = pplane(home.path(), url, &["tenant", "create", "t", "--json"]).json();
    let (tenant, user) = (
        created["tenant_id"].as_str().unwrap().to_owned(),
        created["user_id"].as_str().unwrap().to_owned(),
    );
    let ingest = |payload: &str| {
        pplane(
            home.path(),
            url,
            &[
                "signal",
                "ingest",
                "--tenant",
                &tenant,
                "--user",
                &user,
                "--channel",
                "c",
                "--source-id",
                "s1",
                "--payload",
                payload,
            ],
        )
    };
    let first = ingest(r#"{"a":1}"#);
    assert_eq!(first.code, 0, "{first:?}");
    let first = first.json();
    assert_eq!(first["duplicate"], false);
    let again = ingest(r#"{"a":1}"#).json();
    assert_eq!(
        (again["duplicate"].clone(), again["run_id"].clone()),
        (true.into(), first["run_id"].clone())
    );
    let conflict = ingest(r#"{"a":2}"#);
    assert_eq!(conflict.code, 1, "{conflict:?}");
    assert!(conflict
        .stderr
        .contains("already used with different content"));
    let bad_json = ingest("{not json");
    assert_eq!(bad_json.code, 2);
    assert!(bad_json.stderr.contains("--payload must be JSON"));

    let run = first["run_id"].as_str().unwrap();
    let as_user = ["--tenant", tenant.as_str(), "--user", user.as_str()];
    let complete: Vec<&str> = ["run", "complete", run]
        .iter()
        .copied()
        .chain(as_user)
        .collect();
    let illegal = pplane(home.path(), url, &complete);
    assert_eq!(illegal.code, 1);
    assert!(
        illegal
            .stderr
            .contains("illegal run transition PENDING -> COMPLETED"),
        "{illegal:?}"
    );

    let stranger: Vec<&str> = [
        "run",
        "start",
        run,
        "--tenant",
        tenant.as_str(),
        "--user",
        "01000000-0000-7000-8000-000000000000",
    ]
    .to_vec();
    let hidden = pplane(home.path(), url, &stranger);
    assert_eq!(hidden.code, 1);
    assert!(
        hidden.stderr.contains("is not a member of this tenant"),
        "a non-member is told so: {hidden:?}"
    );

    let show: Vec<&str> = ["run", "show", run]
        .iter()
        .copied()
        .chain(as_user)
        .collect();
    let shown = pplane(home.path(), url, &show).json();
    assert_eq!(shown["run"]["status"], "PENDING");
    assert_eq!(shown["steps"], serde_json::json!([]));
    assert_eq!(shown["checkpoint"], serde_json::Value::Null);

    let start: Vec<&str> = ["run", "start", run, "--expect-version", "1"]
        .iter()
        .copied()
        .chain(as_user)
        .collect();
    assert_eq!(pplane(home.path(), url, &start).json()["status"], "RUNNING");
    let stale = pplane(home.path(), url, &start);
    assert_eq!(stale.code, 1);
    assert!(
        stale
            .stderr
            .contains("changed concurrently (expected version 1, now at 2)"),
        "{stale:?}"
    );
}

/// The state rules as the shell sees them: completing a run with a live step
/// is refused (exit 1) and changes nothing; cancelling it cancels the step;
/// afterwards every change under it is refused with the run's status.
#[tokio::test]
async fn a_finished_run_refuses_changes_with_exit_1() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = crate::support::Started::new(home.path(), url);
    let step = p.run(
        home.path(),
        url,
        &["run", "step", "add", &p.run, "--type", "work"],
    );
    let step = step.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        p.run(home.path(), url, &["run", "step", "start", &step])
            .code,
        0
    );

    let complete = p.run(home.path(), url, &["run", "complete", &p.run]);
    assert_eq!(complete.code, 1, "{complete:?}");
    assert!(
        complete.stderr.contains("still has 1 RUNNING step"),
        "{complete:?}"
    );
    let shown = p.run(home.path(), url, &["run", "show", &p.run]).json();
    assert_eq!(shown["run"]["status"], "RUNNING");

    let cancel = p.run(
        home.path(),
        url,
        &["run", "cancel", &p.run, "--reason", "user left"],
    );
    assert_eq!(cancel.code, 0, "{cancel:?}");
    let shown = p.run(home.path(), url, &["run", "show", &p.run]).json();
    assert_eq!(shown["steps"][0]["status"], "CANCELLED");
    for (args, what) in [
        (
            vec!["run", "step", "add", &p.run, "--type", "late"],
            "steps",
        ),
        (
            vec!["run", "tool", "start", &step, "--name", "x"],
            "tool calls",
        ),
        (
            vec!["run", "checkpoint", "save", &p.run, "--state", "{}"],
            "checkpoints",
        ),
    ] {
        let refused = p.run(home.path(), url, &args);
        assert_eq!(refused.code, 1, "{args:?}: {refused:?}");
        assert!(
            refused.stderr.contains(&format!(
                "run {} is CANCELLED and takes no more {what}",
                p.run
            )),
            "{refused:?}"
        );
    }
    let gate = pplane(home.path(), url, &["check", "data"]);
    assert_eq!(gate.code, 0, "{gate:?}");
}
