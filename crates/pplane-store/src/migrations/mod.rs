//! Versioned, reversible, checksummed migrations, embedded in the binary.
//!
//! Files live in `migrations/` at the repository root as
//! `YYYYMMDDHHMMSS_name.up.sql` and `.down.sql`. Each runs in one transaction
//! together with its history row, so a migration is either fully applied and
//! recorded or not at all. The history (`pplane_meta.schema_migrations`) keeps
//! each file's SHA-384: an applied file that was edited afterwards is refused,
//! and so is a database that has a migration this binary does not know (it was
//! migrated by a newer binary). Both checks run before anything is changed.
//! A session advisory lock serialises concurrent `migrate` runs.

mod losses;

pub use losses::{migrate_down_losses, Loss};

use std::collections::BTreeMap;
use std::time::Instant;

use sqlx::migrate::{MigrationType, Migrator};
use sqlx::{Connection, PgConnection};

static EMBEDDED: Migrator = sqlx::migrate!("../../migrations");

/// An arbitrary constant shared by every `pplane migrate`: "pplane" in ASCII.
const MIGRATE_LOCK: i64 = 0x70_70_6c_61_6e_65;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database has migration {version} ({description}), which this binary does not know: \
         it was migrated by a newer pplane. Upgrade pplane; nothing was changed"
    )]
    UnknownApplied { version: i64, description: String },

    #[error(
        "migration {version} ({description}) was edited after it was applied (checksum differs). \
         Applied migrations are never edited: restore the file and add a new migration instead; \
         nothing was changed"
    )]
    ChecksumMismatch { version: i64, description: String },

    #[error("migration {version} ({description}) has no .down.sql, so it cannot be rolled back")]
    Irreversible { version: i64, description: String },

    #[error("no migration has version {0}")]
    NoSuchVersion(i64),

    #[error("migration {version} ({description}) failed and was rolled back: {source}")]
    Failed {
        version: i64,
        description: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("this database is not migrated: run `pplane migrate up`")]
    NotMigrated,

    #[error(
        "this database's schema is at migration {at} but this binary needs {want}: \
         run `pplane migrate up`"
    )]
    Behind { at: i64, want: i64 },

    #[error("migration bookkeeping failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// One migration: its forward script and, if it is reversible, its rollback.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub description: String,
    pub up: String,
    pub down: Option<String>,
    pub checksum: Vec<u8>,
    /// True if a file opted out of its transaction (`-- no-transaction`).
    pub no_tx: bool,
}

/// An ordered set of migrations: normally [`MigrationSet::embedded`]; tests
/// build altered copies to prove the checks catch what they should.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    pub migrations: Vec<Migration>,
}

impl MigrationSet {
    /// The migrations compiled into this binary.
    pub fn embedded() -> MigrationSet {
        let mut by_version: BTreeMap<i64, Migration> = BTreeMap::new();
        for m in EMBEDDED.iter() {
            let entry = by_version.entry(m.version).or_insert_with(|| Migration {
                version: m.version,
                description: m.description.to_string(),
                up: String::new(),
                down: None,
                checksum: Vec::new(),
                no_tx: false,
            });
            match m.migration_type {
                MigrationType::ReversibleDown => entry.down = Some(m.sql.to_string()),
                _ => {
                    entry.up = m.sql.to_string();
                    entry.checksum = m.checksum.to_vec();
                    entry.no_tx |= m.no_tx;
                }
            }
        }
        MigrationSet {
            migrations: by_version.into_values().collect(),
        }
    }

    pub fn latest(&self) -> Option<i64> {
        self.migrations.last().map(|m| m.version)
    }

    fn get(&self, version: i64) -> Option<&Migration> {
        self.migrations.iter().find(|m| m.version == version)
    }
}

/// A row of the history table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    pub applied_at: chrono::DateTime<chrono::Utc>,
    pub execution_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    Applied,
    Pending,
    /// Applied, but the file changed since.
    Edited,
    /// Applied by a newer binary; this one does not have the file.
    Unknown,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub state: MigrationState,
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reversible: bool,
}

/// What one applied or reverted migration took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStep {
    pub version: i64,
    pub description: String,
    pub direction: &'static str,
    pub elapsed_ms: u64,
}

/// The history, oldest first; empty when the database was never migrated.
pub async fn migration_history(
    conn: &mut PgConnection,
) -> Result<Vec<AppliedMigration>, MigrationError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('pplane_meta.schema_migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT version, description, checksum, applied_at, execution_ms \
         FROM pplane_meta.schema_migrations ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Every migration known to the binary or the database, with its state.
pub async fn migration_status(
    conn: &mut PgConnection,
    set: &MigrationSet,
) -> Result<Vec<MigrationStatus>, MigrationError> {
    let applied = migration_history(conn).await?;
    let mut rows: Vec<MigrationStatus> = set
        .migrations
        .iter()
        .map(|m| {
            let done = applied.iter().find(|a| a.version == m.version);
            MigrationStatus {
                version: m.version,
                description: m.description.clone(),
                state: match done {
                    None => MigrationState::Pending,
                    Some(a) if a.checksum != m.checksum => MigrationState::Edited,
                    Some(_) => MigrationState::Applied,
                },
                applied_at: done.map(|a| a.applied_at),
                reversible: m.down.is_some(),
            }
        })
        .collect();
    rows.extend(
        applied
            .iter()
            .filter(|a| set.get(a.version).is_none())
            .map(|a| MigrationStatus {
                version: a.version,
                description: a.description.clone(),
                state: MigrationState::Unknown,
                applied_at: Some(a.applied_at),
                reversible: false,
            }),
    );
    rows.sort_by_key(|r| r.version);
    Ok(rows)
}

/// Refuses a database that a newer binary migrated, or whose applied files
/// were edited. Used by `migrate` before any change and by the runtime guard.
pub fn verify_history(
    set: &MigrationSet,
    applied: &[AppliedMigration],
) -> Result<(), MigrationError> {
    for a in applied {
        match set.get(a.version) {
            None => {
                return Err(MigrationError::UnknownApplied {
                    version: a.version,
                    description: a.description.clone(),
                })
            }
            Some(m) if m.checksum != a.checksum => {
                return Err(MigrationError::ChecksumMismatch {
                    version: a.version,
                    description: a.description.clone(),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Refuses to work on a database whose schema is not exactly the one this
/// binary was built for: never migrated, behind, edited or newer. Every
/// command that needs the schema asks this first, so an unmigrated database
/// gets the instruction to migrate instead of a missing-relation error.
pub async fn schema_verify(
    conn: &mut PgConnection,
    set: &MigrationSet,
) -> Result<(), MigrationError> {
    let applied = migration_history(conn).await?;
    verify_history(set, &applied)?;
    let want = set.latest().unwrap_or(0);
    match applied.last() {
        None => Err(MigrationError::NotMigrated),
        Some(a) if a.version != want => Err(MigrationError::Behind {
            at: a.version,
            want,
        }),
        Some(_) => Ok(()),
    }
}

/// Applies pending migrations up to `target` (all when None), in order,
/// calling `on_step` after each one.
pub async fn migrate_up(
    conn: &mut PgConnection,
    set: &MigrationSet,
    target: Option<i64>,
    mut on_step: impl FnMut(&MigrationStep),
) -> Result<Vec<MigrationStep>, MigrationError> {
    if let Some(v) = target {
        if set.get(v).is_none() {
            return Err(MigrationError::NoSuchVersion(v));
        }
    }
    lock(conn).await?;
    let result = up_locked(conn, set, target, &mut on_step).await;
    unlock(conn, result).await
}

async fn up_locked(
    conn: &mut PgConnection,
    set: &MigrationSet,
    target: Option<i64>,
    on_step: &mut impl FnMut(&MigrationStep),
) -> Result<Vec<MigrationStep>, MigrationError> {
    bootstrap_history(conn).await?;
    let applied = migration_history(conn).await?;
    verify_history(set, &applied)?;
    let citus = citus_present(conn).await?;
    if citus {
        // Two transactions: the grants run on the workers over Citus's own
        // connections, which see only committed roles.
        sqlx::raw_sql(CITUS_ROLES).execute(&mut *conn).await?;
        sqlx::raw_sql(CITUS_GRANTS).execute(&mut *conn).await?;
    }
    let mut steps = Vec::new();
    for m in &set.migrations {
        let done = applied.iter().any(|a| a.version == m.version);
        if done || target.is_some_and(|t| m.version > t) {
            continue;
        }
        let step = apply(conn, m, citus).await?;
        on_step(&step);
        steps.push(step);
    }
    Ok(steps)
}

/// What the migrations need on a Citus cluster before the first one runs.
pub(crate) const CITUS_ROLES: &str = include_str!("citus_roles.sql");
const CITUS_GRANTS: &str = include_str!("citus_grants.sql");

/// Whether this database has the Citus extension (a coordinator).
pub(crate) async fn citus_present(conn: &mut PgConnection) -> Result<bool, MigrationError> {
    Ok(crate::Profile::detect(conn).await? == crate::Profile::Citus)
}

/// Reverts applied migrations newer than `target`, newest first. With no
/// target, reverts only the newest one; `Some(0)` reverts them all.
pub async fn migrate_down(
    conn: &mut PgConnection,
    set: &MigrationSet,
    target: Option<i64>,
    mut on_step: impl FnMut(&MigrationStep),
) -> Result<Vec<MigrationStep>, MigrationError> {
    if let Some(v) = target.filter(|v| *v != 0) {
        if set.get(v).is_none() {
            return Err(MigrationError::NoSuchVersion(v));
        }
    }
    lock(conn).await?;
    let result = down_locked(conn, set, target, &mut on_step).await;
    unlock(conn, result).await
}

async fn down_locked(
    conn: &mut PgConnection,
    set: &MigrationSet,
    target: Option<i64>,
    on_step: &mut impl FnMut(&MigrationStep),
) -> Result<Vec<MigrationStep>, MigrationError> {
    let applied = migration_history(conn).await?;
    verify_history(set, &applied)?;
    let to_revert = down_plan(set, &applied, target);
    // Check every rollback exists before reverting any of them.
    if let Some(m) = to_revert.iter().find(|m| m.down.is_none()) {
        return Err(MigrationError::Irreversible {
            version: m.version,
            description: m.description.clone(),
        });
    }
    let citus = citus_present(conn).await?;
    let mut steps = Vec::new();
    for m in to_revert {
        let step = revert(conn, m, citus).await?;
        on_step(&step);
        steps.push(step);
    }
    Ok(steps)
}

/// The migrations that going down to `target` reverts, newest first: the
/// newest one alone with no target, all of them with `Some(0)`.
fn down_plan<'a>(
    set: &'a MigrationSet,
    applied: &[AppliedMigration],
    target: Option<i64>,
) -> Vec<&'a Migration> {
    match target {
        None => applied
            .last()
            .and_then(|a| set.get(a.version))
            .into_iter()
            .collect(),
        Some(t) => applied
            .iter()
            .rev()
            .filter(|a| a.version > t)
            .filter_map(|a| set.get(a.version))
            .collect(),
    }
}

async fn lock(conn: &mut PgConnection) -> Result<(), MigrationError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATE_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Releases the lock whatever `result` is, and returns `result`.
async fn unlock<T>(
    conn: &mut PgConnection,
    result: Result<T, MigrationError>,
) -> Result<T, MigrationError> {
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATE_LOCK)
        .execute(conn)
        .await;
    let value = result?;
    unlocked?;
    Ok(value)
}

/// The history lives in its own schema so that `public` holds only the
/// plane's tables, each of which is a tenant table under row-level security.
async fn bootstrap_history(conn: &mut PgConnection) -> Result<(), MigrationError> {
    sqlx::raw_sql(
        "CREATE SCHEMA IF NOT EXISTS pplane_meta;
         CREATE TABLE IF NOT EXISTS pplane_meta.schema_migrations (
             version      bigint      PRIMARY KEY,
             description  text        NOT NULL,
             checksum     bytea       NOT NULL,
             applied_at   timestamptz NOT NULL DEFAULT now(),
             execution_ms bigint      NOT NULL
         );",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A migration's transaction. On Citus, SET LOCAL is not forwarded to the
/// workers in it: the database's `citus.propagate_set_commands = 'local'`
/// (migration 14) makes Citus replay the whole text a SET LOCAL came in on
/// every worker connection it opens later in the transaction, and a
/// migration's text is its whole file (`SET LOCAL ROLE pplane_owner;
/// CREATE FUNCTION …`), which a worker refuses. Citus carries the DDL
/// itself, over connections made as the current role.
async fn migration_begin(
    conn: &mut PgConnection,
    citus: bool,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, MigrationError> {
    let mut tx = conn.begin().await?;
    if citus {
        sqlx::raw_sql("SET LOCAL citus.propagate_set_commands = 'none'")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

async fn apply(
    conn: &mut PgConnection,
    m: &Migration,
    citus: bool,
) -> Result<MigrationStep, MigrationError> {
    let started = Instant::now();
    let failed = |source| MigrationError::Failed {
        version: m.version,
        description: m.description.clone(),
        source,
    };
    let mut tx = migration_begin(conn, citus).await?;
    sqlx::raw_sql(&m.up)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    // A migration may SET LOCAL ROLE pplane_owner; the history row is ours.
    sqlx::raw_sql("RESET ROLE").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO pplane_meta.schema_migrations (version, description, checksum, execution_ms) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(m.version)
    .bind(&m.description)
    .bind(&m.checksum)
    .bind(elapsed_ms as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(MigrationStep {
        version: m.version,
        description: m.description.clone(),
        direction: "up",
        elapsed_ms,
    })
}

async fn revert(
    conn: &mut PgConnection,
    m: &Migration,
    citus: bool,
) -> Result<MigrationStep, MigrationError> {
    let started = Instant::now();
    let down = m.down.as_deref().expect("checked by migrate_down");
    let mut tx = migration_begin(conn, citus).await?;
    sqlx::raw_sql(down)
        .execute(&mut *tx)
        .await
        .map_err(|source| MigrationError::Failed {
            version: m.version,
            description: m.description.clone(),
            source,
        })?;
    sqlx::raw_sql("RESET ROLE").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM pplane_meta.schema_migrations WHERE version = $1")
        .bind(m.version)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(MigrationStep {
        version: m.version,
        description: m.description.clone(),
        direction: "down",
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
