//! The peer of `pplane bench append`: Message DB, the best known event store
//! on PostgreSQL. Its SQL comes from its npm package (`@eventide/message-db`,
//! fetched with `npm pack` at bench time, never vendored), installed in its
//! own scratch database on the same server, in the order its install scripts
//! use; its writers call `message_store.write_message` once per message, the
//! way its clients do, one stream category per tenant.

use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use super::ScratchDb;
use crate::{Admin, Result, StoreError};

/// The version measured against.
pub const PACKAGE: &str = "@eventide/message-db@1.3.1";

/// The install scripts' order (install.sh, install-functions.sh,
/// install-indexes.sh, install-views.sh, install-privileges.sh), less the
/// role and database creation, which the scratch database replaces.
const FILES: [&str; 30] = [
    "schema/message-store.sql",
    "extensions/pgcrypto.sql",
    "tables/messages.sql",
    "types/message.sql",
    "functions/message-store-version.sql",
    "functions/hash-64.sql",
    "functions/acquire-lock.sql",
    "functions/category.sql",
    "functions/is-category.sql",
    "functions/id.sql",
    "functions/cardinal-id.sql",
    "functions/stream-version.sql",
    "functions/write-message.sql",
    "functions/get-stream-messages.sql",
    "functions/get-category-messages.sql",
    "functions/get-last-stream-message.sql",
    "indexes/messages-id.sql",
    "indexes/messages-stream.sql",
    "indexes/messages-category.sql",
    "views/stream-summary.sql",
    "views/type-summary.sql",
    "views/stream-type-summary.sql",
    "views/type-stream-summary.sql",
    "views/category-type-summary.sql",
    "views/type-category-summary.sql",
    "privileges/schema.sql",
    "privileges/table.sql",
    "privileges/sequence.sql",
    "privileges/functions.sql",
    "privileges/views.sql",
];

/// Message DB installed in a scratch database, and a pool of its writers.
pub struct MessageDb {
    scratch: ScratchDb,
    pub pool: PgPool,
}

impl MessageDb {
    /// Fetches the package with npm, installs it next to `url`'s database.
    pub async fn install(url: &str, writers: u32) -> Result<MessageDb> {
        let dir = tempfile_dir()?;
        let fetched = fetch(&dir);
        let sql = fetched.and_then(|root| {
            FILES
                .iter()
                .map(|f| {
                    std::fs::read_to_string(root.join(f))
                        .map_err(|e| peer_error(format!("{PACKAGE}: {f}: {e}")))
                })
                .collect::<Result<Vec<String>>>()
        });
        let _ = std::fs::remove_dir_all(&dir);
        let sql = sql?;
        let scratch = ScratchDb::empty(url, "pplane_peer").await?;
        let mut admin = Admin::connect(&scratch.url).await?;
        // The role its privileges name, as its roles/message-store.sql makes it.
        sqlx::raw_sql(
            "DO $$ BEGIN CREATE ROLE message_store WITH LOGIN;
             EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             SET search_path = message_store, public",
        )
        .execute(admin.conn())
        .await?;
        for script in &sql {
            sqlx::raw_sql(script).execute(admin.conn()).await?;
        }
        admin.close().await?;
        // Its clients put message_store first on the search path.
        let options = PgConnectOptions::from_str(&scratch.url)?
            .options([("search_path", "message_store,public")]);
        let pool = crate::store::pool_options()
            .max_connections(writers + 2)
            .connect_with(options)
            .await?;
        Ok(MessageDb { scratch, pool })
    }

    pub async fn drop_now(self) -> Result<()> {
        self.pool.close().await;
        self.scratch.drop_now().await
    }
}

/// One message, as a Message DB client writes it: its own transaction.
pub async fn write_message(
    pool: &PgPool,
    stream: &str,
    data: &serde_json::Value,
    metadata: &serde_json::Value,
) -> Result<()> {
    sqlx::query("SELECT message_store.write_message($1, $2, $3, $4, $5)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(stream)
        .bind("StepCompleted")
        .bind(data)
        .bind(metadata)
        .execute(pool)
        .await?;
    Ok(())
}

/// `npm pack` into `dir`, then unpacks it; returns the package's database/.
fn fetch(dir: &Path) -> Result<std::path::PathBuf> {
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        let out = cmd
            .output()
            .map_err(|e| peer_error(format!("{what}: {e} (is it installed?)")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(peer_error(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    run(
        Command::new("npm")
            .args(["pack", PACKAGE, "--silent", "--pack-destination"])
            .arg(dir)
            .current_dir(dir),
        "npm pack",
    )?;
    let tarball = std::fs::read_dir(dir)
        .map_err(|e| peer_error(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| peer_error(format!("npm pack left no tarball of {PACKAGE}")))?;
    run(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(dir),
        "tar",
    )?;
    Ok(dir.join("package").join("database"))
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("pplane-peer-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| peer_error(e.to_string()))?;
    Ok(dir)
}

fn peer_error(msg: String) -> StoreError {
    StoreError::Internal(format!("the Message DB peer: {msg}"))
}
