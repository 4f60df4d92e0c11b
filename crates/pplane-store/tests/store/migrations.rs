//! Versioned, reversible, checksummed, atomic migrations.

use pplane_store::migrations::{Migration, MigrationError, MigrationState};
use pplane_store::testing::TestDb;
use pplane_store::{MigrationSet, Store, StoreError};

use crate::support::{assert_same_schema, exec, schema_dump};

const FIRST: i64 = 20260104000001;

async fn objects_in_public(db: &TestDb) -> i64 {
    let mut admin = db.admin().await;
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')
              + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')
              + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = 'public' AND t.typtype = 'd')",
    )
    .fetch_one(admin.conn())
    .await
    .unwrap()
}

/// Up all, dump; down all, nothing of ours is left; up all again, and the
/// dump is identical to the first.
#[tokio::test]
async fn up_down_up_leaves_an_identical_catalog() {
    let db = TestDb::empty().await;
    let set = MigrationSet::embedded();
    let mut admin = db.admin().await;

    let mut printed = Vec::new();
    admin
        .migrate_up(&set, None, |s| printed.push(s.version))
        .await
        .unwrap();
    assert_eq!(
        printed,
        set.migrations.iter().map(|m| m.version).collect::<Vec<_>>(),
        "each step is reported"
    );
    let first = schema_dump(db.url());
    assert!(first.contains("CREATE TABLE public.orchestration_events"));

    let down = admin.migrate_down(&set, Some(0), |_| {}).await.unwrap();
    assert_eq!(down.len(), set.migrations.len());
    assert!(
        down.windows(2).all(|w| w[0].version > w[1].version),
        "newest first"
    );
    assert_eq!(
        objects_in_public(&db).await,
        0,
        "down all leaves no table, function or domain"
    );
    assert!(admin
        .migrate_status(&set)
        .await
        .unwrap()
        .iter()
        .all(|s| s.state == MigrationState::Pending));

    admin.migrate_up(&set, None, |_| {}).await.unwrap();
    assert_same_schema(&first, &schema_dump(db.url()));
}

/// `up --to`, `down` (one step) and `down --to` move exactly as far as asked.
#[tokio::test]
async fn targets_move_exactly_as_far_as_asked() {
    let db = TestDb::empty().await;
    let set = MigrationSet::embedded();
    let mut admin = db.admin().await;
    let second = set.migrations[1].version;

    let steps = admin.migrate_up(&set, Some(second), |_| {}).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.version).collect::<Vec<_>>(),
        [FIRST, second]
    );
    let applied = |rows: &[pplane_store::migrations::MigrationStatus]| {
        rows.iter()
            .filter(|r| r.state == MigrationState::Applied)
            .count()
    };
    assert_eq!(applied(&admin.migrate_status(&set).await.unwrap()), 2);

    let steps = admin.migrate_down(&set, None, |_| {}).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.version).collect::<Vec<_>>(),
        [second]
    );

    admin.migrate_up(&set, None, |_| {}).await.unwrap();
    admin.migrate_down(&set, Some(FIRST), |_| {}).await.unwrap();
    assert_eq!(applied(&admin.migrate_status(&set).await.unwrap()), 1);

    let err = admin
        .migrate_up(&set, Some(20990101000000), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Migration(MigrationError::NoSuchVersion(_))),
        "{err}"
    );
}

/// A database migrated by a newer binary is refused by migrate and by the
/// runtime, and nothing is changed.
#[tokio::test]
async fn a_newer_database_is_refused_untouched() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    exec(
        &mut admin,
        "INSERT INTO pplane_meta.schema_migrations (version, description, checksum, execution_ms)
         VALUES (20991231235959, 'from the future', '\\x00', 1)",
    )
    .await;
    let before = schema_dump(db.url());
    let set = MigrationSet::embedded();

    for result in [
        admin.migrate_up(&set, None, |_| {}).await,
        admin.migrate_down(&set, None, |_| {}).await,
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Migration(MigrationError::UnknownApplied {
                    version: 20991231235959,
                    ..
                })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("nothing was changed"));
    }
    let status = admin.migrate_status(&set).await.unwrap();
    assert_eq!(status.last().unwrap().state, MigrationState::Unknown);
    assert!(
        Store::connect(db.url()).await.is_err(),
        "the runtime refuses it too"
    );
    assert_same_schema(&before, &schema_dump(db.url()));
}

/// Editing an applied migration is detected by its checksum and refused.
#[tokio::test]
async fn an_edited_applied_migration_is_refused() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    let mut set = MigrationSet::embedded();
    set.migrations[2].up.push_str("\n-- a later edit\n");
    set.migrations[2].checksum = vec![1, 2, 3];

    let err = admin.migrate_down(&set, Some(0), |_| {}).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Migration(MigrationError::ChecksumMismatch { .. })
        ),
        "{err}"
    );
    let status = admin.migrate_status(&set).await.unwrap();
    assert_eq!(status[2].state, MigrationState::Edited);
    assert_eq!(
        status
            .iter()
            .filter(|s| s.state == MigrationState::Applied)
            .count(),
        set.migrations.len() - 1
    );
}

/// A migration that fails halfway leaves neither its objects nor a history row.
#[tokio::test]
async fn a_failing_migration_changes_nothing() {
    let db = TestDb::empty().await;
    let mut admin = db.admin().await;
    let mut set = MigrationSet::embedded();
    set.migrations.push(Migration {
        version: 20991231000000,
        description: "broken".into(),
        up: "CREATE TABLE half_done (id int); SELECT 1/0;".into(),
        down: Some("DROP TABLE half_done;".into()),
        checksum: vec![9],
        no_tx: false,
    });

    let err = admin.migrate_up(&set, None, |_| {}).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Migration(MigrationError::Failed {
                version: 20991231000000,
                ..
            })
        ),
        "{err}"
    );
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('public.half_done') IS NOT NULL")
        .fetch_one(admin.conn())
        .await
        .unwrap();
    assert!(!exists, "the failed migration's table was rolled back");
    let status = admin.migrate_status(&set).await.unwrap();
    assert_eq!(status.last().unwrap().state, MigrationState::Pending);
    assert_eq!(
        status
            .iter()
            .filter(|s| s.state == MigrationState::Applied)
            .count(),
        set.migrations.len() - 1
    );
}

/// Rolling back past a migration without a .down.sql is refused before any
/// migration is reverted.
#[tokio::test]
async fn a_missing_rollback_is_refused_before_any_change() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    let mut set = MigrationSet::embedded();
    set.migrations[1].down = None;
    let before = schema_dump(db.url());

    let err = admin.migrate_down(&set, Some(0), |_| {}).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Migration(MigrationError::Irreversible { .. })
        ),
        "{err}"
    );
    assert_same_schema(&before, &schema_dump(db.url()));
}

/// Two migrators at once: the advisory lock makes the second wait, and it
/// then finds nothing left to do.
#[tokio::test]
async fn concurrent_migrations_apply_each_step_once() {
    let db = TestDb::empty().await;
    let set = MigrationSet::embedded();
    let (mut a, mut b) = (db.admin().await, db.admin().await);
    let (ra, rb) = tokio::join!(
        a.migrate_up(&set, None, |_| {}),
        b.migrate_up(&set, None, |_| {})
    );
    let total = ra.unwrap().len() + rb.unwrap().len();
    assert_eq!(total, set.migrations.len());
}

/// The statements of a migration's text outside dollar quotes (DO blocks,
/// function bodies), comments and string literals dropped, each normalized
/// to upper case and single spaces.
fn top_level_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("--") {
            rest = rest.find('\n').map_or("", |at| &rest[at..]);
        } else if c == '\'' {
            let end = rest[1..].find('\'').map_or(rest.len(), |at| at + 2);
            current.push_str("''");
            rest = &rest[end..];
        } else if c == '$' {
            let tag_len = rest[1..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(0);
            if rest[1 + tag_len..].starts_with('$') {
                let tag = &rest[..tag_len + 2];
                let body = &rest[tag.len()..];
                let end = body.find(tag).map_or(body.len(), |at| at + tag.len());
                current.push_str(" $BODY$ ");
                rest = &body[end..];
            } else {
                current.push(c);
                rest = &rest[1..];
            }
        } else if c == ';' {
            statements.push(std::mem::take(&mut current));
            rest = &rest[1..];
        } else {
            current.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Top-level DDL on a tenant table (not `pplane_meta`'s own): on Citus the
/// coordinator forwards such a statement's text to the workers, and at top
/// level that text is the whole file, which a worker refuses.
fn citus_unsafe(sql: &str) -> Vec<String> {
    const DDL: [&str; 6] = [
        "ALTER TABLE ",
        "CREATE INDEX ",
        "CREATE UNIQUE INDEX ",
        "DROP INDEX ",
        "CREATE TRIGGER ",
        "DROP TRIGGER ",
    ];
    top_level_statements(sql)
        .into_iter()
        .filter(|s| DDL.iter().any(|d| s.starts_with(d)) && !s.contains("PPLANE_META."))
        .collect()
}

/// Migrations after the one that distributes the tenant tables (14) change
/// those tables only inside DO blocks, so that they apply on Citus as on
/// one server (the embedded Citus specs run them; this says why at once).
#[test]
fn ddl_on_tenant_tables_after_distribution_runs_inside_do() {
    let sample = "SET LOCAL ROLE pplane_owner; -- ALTER TABLE in a comment
        ALTER TABLE runs ADD COLUMN x int;
        CREATE INDEX job_idx ON pplane_meta.job_runs (job);
        DO $b$ BEGIN ALTER TABLE runs ADD COLUMN y int; END $b$;
        SELECT 'ALTER TABLE; DROP INDEX'";
    assert_eq!(citus_unsafe(sample), ["ALTER TABLE RUNS ADD COLUMN X INT"]);

    let distributed = 20261202000014;
    let mut unsafe_ddl = Vec::new();
    for m in MigrationSet::embedded().migrations {
        if m.version <= distributed {
            continue;
        }
        for (file, text) in [("up", Some(&m.up)), ("down", m.down.as_ref())] {
            for statement in citus_unsafe(text.map_or("", |t| t.as_str())) {
                unsafe_ddl.push(format!("{} {file}: {statement}", m.version));
            }
        }
    }
    assert!(unsafe_ddl.is_empty(), "{unsafe_ddl:#?}");
}
