//! With DATABASE_URL set, the same commands work on that server and never
//! touch an embedded cluster.

use pplane_store::testing::TestDb;

use crate::support::{pplane, Home};

#[tokio::test]
async fn the_same_commands_work_on_an_external_server() {
    let db = TestDb::empty().await;
    let home = Home::new();
    let url = Some(db.url());

    let up = pplane(home.path(), url, &["migrate", "up", "--json"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(
        up.json().as_array().unwrap().len(),
        pplane_store::MigrationSet::embedded().migrations.len()
    );
    let check = pplane(home.path(), url, &["check", "schema", "--json"]);
    assert_eq!(check.code, 0, "{check:?}");
    let results = check.json()["results"].as_array().unwrap().clone();
    assert!(results.len() > 20 && results.iter().all(|r| r["passed"] == true));
    assert!(
        !home.path().join("pg").exists(),
        "no embedded cluster was made"
    );

    let status = pplane(home.path(), url, &["migrate", "status", "--json"]).json();
    assert!(status
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["state"] == "applied"));
}

#[tokio::test]
async fn check_schema_fails_and_names_the_table() {
    let db = TestDb::migrated().await;
    db.exec("SET ROLE pplane_owner; ALTER TABLE tool_calls DISABLE ROW LEVEL SECURITY; RESET ROLE")
        .await;
    let home = Home::new();
    let check = pplane(home.path(), Some(db.url()), &["check", "schema"]);
    assert_eq!(check.code, 1, "{check:?}");
    let fail = check
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .expect("a FAIL row");
    assert!(
        fail.contains("row-level security")
            && fail.contains("tool_calls: row-level security disabled"),
        "{fail}"
    );
}

#[tokio::test]
async fn migrate_down_and_status_step_by_step() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let down = pplane(
        home.path(),
        url,
        &["migrate", "down", "--to", "20260104000002", "--yes"],
    );
    assert_eq!(down.code, 0, "{down:?}");
    let reverted: Vec<&str> = down.stdout.lines().map(|l| &l[6..20]).collect();
    let mut expected: Vec<String> = pplane_store::MigrationSet::embedded()
        .migrations
        .iter()
        .map(|m| m.version.to_string())
        .filter(|v| v.as_str() > "20260104000002")
        .collect();
    expected.reverse();
    assert_eq!(reverted, expected, "newest first: {down:?}");
    let status = pplane(home.path(), url, &["migrate", "status"]);
    assert!(
        status.stdout.contains("20260104000003  pending"),
        "{status:?}"
    );

    let refused = pplane(home.path(), url, &["tenant", "create", "x"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("run `pplane migrate up`"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let db = TestDb::migrated().await;
    db.exec(
        "INSERT INTO pplane_meta.schema_migrations (version, description, checksum, execution_ms)
         VALUES (20991231235959, 'from the future', '\\x00', 1)",
    )
    .await;
    let home = Home::new();
    let up = pplane(home.path(), Some(db.url()), &["migrate", "up"]);
    assert_eq!(up.code, 1);
    assert!(
        up.stderr.contains("newer pplane") && up.stderr.contains("nothing was changed"),
        "{up:?}"
    );
    let status = pplane(home.path(), Some(db.url()), &["migrate", "status"]);
    assert_eq!(
        status.code, 1,
        "status flags the unknown migration: {status:?}"
    );
    assert!(status.stdout.contains("20991231235959  unknown"));
}
