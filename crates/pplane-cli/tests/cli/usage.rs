//! Exit codes: 0 success, 1 a failed operation, 2 bad usage or input.

use pplane_store::testing::TestDb;

use crate::support::{pplane, Home};

#[test]
fn bad_usage_exits_2() {
    let home = Home::new();
    for args in [
        &["bogus"][..],
        &["migrate"],
        &["migrate", "up", "--to", "soon"],
        &["check", "everything"],
    ] {
        let run = pplane(home.path(), Some("postgres://nowhere.invalid/x"), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
    }
}

#[tokio::test]
async fn bad_input_exits_2_and_writes_nothing() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let bad_user = pplane(
        home.path(),
        url,
        &["tenant", "create", "x", "--user", "not-a-uuid"],
    );
    assert_eq!(bad_user.code, 2, "{bad_user:?}");
    assert!(bad_user.stderr.contains("user id must be a UUID"));
    let blank = pplane(home.path(), url, &["tenant", "create", "   "]);
    assert_eq!(blank.code, 2, "{blank:?}");
    assert!(blank.stderr.contains("tenant name"));
}

#[test]
fn an_unreachable_server_exits_1_with_the_reason() {
    let home = Home::new();
    let run = pplane(
        home.path(),
        Some("postgres://nobody@127.0.0.1:1/none"),
        &["check", "schema"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("error:"), "{run:?}");
}

#[test]
fn wrong_postgres_binaries_are_named() {
    let home = Home::new();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pplane"));
    let out = cmd
        .args(["db", "start"])
        .env("PPLANE_HOME", home.path())
        .env("PPLANE_PG_BINDIR", "/nonexistent/bin")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PPLANE_PG_BINDIR=/nonexistent/bin holds no initdb"),
        "{stderr}"
    );
    assert!(!home.path().join("pg").exists(), "nothing was created");
}
