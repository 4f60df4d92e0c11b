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
