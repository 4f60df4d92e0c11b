//! Every command that needs the schema, run on a database that was never
//! migrated or is behind, answers with what to do (exit 1), never with a
//! missing-relation error.

use pplane_store::testing::TestDb;
use pplane_store::MigrationSet;

use crate::support::{pplane, Home, Run};

const T: &str = "01a00000-0000-7000-8000-000000000001";
const U: &str = "01a00000-0000-7000-8000-000000000002";
const X: &str = "01a00000-0000-7000-8000-000000000003";

/// Each command that needs the schema, with ids that parse.
fn commands() -> Vec<Vec<&'static str>> {
    let acting = ["--tenant", T, "--user", U];
    let with = |first: &[&'static str]| -> Vec<&'static str> {
        first.iter().copied().chain(acting).collect()
    };
    vec![
        vec!["check", "schema"],
        vec!["check", "data"],
        vec!["check", "all"],
        vec!["trace", X, "--tenant", T],
        vec!["diagnose", "run", X, "--tenant", T],
        vec!["diagnose", "effect", X, "--tenant", T],
        with(&["outbox", "list"]),
        vec!["outbox", "stats"],
        with(&["outbox", "requeue", X]),
        vec![
            "outbox",
            "purge",
            "--delivered-before",
            "2026-01-01T00:00:00Z",
        ],
        vec!["projections", "refresh"],
        vec!["projections", "rebuild"],
        vec!["worker", "--until-idle"],
        vec!["tenant", "create", "t"],
        with(&["signal", "ingest", "--channel", "c", "--source-id", "s"]),
        with(&["run", "show", X]),
        with(&["run", "start", X]),
        with(&["run", "step", "add", X, "--type", "t"]),
        with(&["run", "checkpoint", "load", X]),
        with(&["destination", "list"]),
    ]
}

fn assert_guided(run: &Run, args: &[&str], says: &str) {
    assert_eq!(run.code, 1, "{args:?}: {run:?}");
    assert!(run.stderr.contains(says), "{args:?}: {run:?}");
    for internal in ["relation", "database error", "does not exist"] {
        assert!(!run.stderr.contains(internal), "{args:?}: {run:?}");
    }
}

#[tokio::test]
async fn a_database_never_migrated_gets_the_instruction_to_migrate() {
    let db = TestDb::empty().await;
    let home = Home::new();
    for args in commands() {
        let run = pplane(home.path(), Some(db.url()), &args);
        assert_guided(
            &run,
            &args,
            "this database is not migrated: run `pplane migrate up`",
        );
    }
}

#[tokio::test]
async fn a_database_behind_this_binary_says_which_migration_it_is_at() {
    let db = TestDb::empty().await;
    let home = Home::new();
    let set = MigrationSet::embedded();
    let older = set.migrations[set.migrations.len() - 2].version.to_string();
    let up = pplane(
        home.path(),
        Some(db.url()),
        &["migrate", "up", "--to", &older],
    );
    assert_eq!(up.code, 0, "{up:?}");
    let says = format!(
        "this database's schema is at migration {older} but this binary needs {}: run `pplane migrate up`",
        set.latest().unwrap()
    );
    for args in commands()
        .into_iter()
        .filter(|a| a[..2] != ["check", "schema"])
    {
        let run = pplane(home.path(), Some(db.url()), &args);
        assert_guided(&run, &args, &says);
    }
    // The schema gate reports it as a failed check instead.
    let schema = pplane(home.path(), Some(db.url()), &["check", "schema"]);
    assert_eq!(schema.code, 1, "{schema:?}");
    assert!(
        schema.stdout.contains("FAIL") && schema.stdout.contains("every migration applied"),
        "{schema:?}"
    );
}
