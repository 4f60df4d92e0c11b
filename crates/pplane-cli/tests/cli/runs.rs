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
            .contains("changed concurrently (expected version 1)"),
        "{stale:?}"
    );
}
