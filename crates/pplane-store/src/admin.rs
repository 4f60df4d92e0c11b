//! Administrative work that runs as the login role rather than as
//! `pplane_app`: creating databases and migrating them.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::migrations::{self, MigrationSet, MigrationStatus, MigrationStep};
use crate::{Result, StoreError};

/// A single connection as the login role given by the URL.
#[derive(Debug)]
pub struct Admin {
    conn: PgConnection,
}

impl Admin {
    pub async fn connect(url: &str) -> Result<Admin> {
        // Administrative statements (a migration, a gate's scan) may run
        // for seconds by nature; the caller reports their durations, so
        // sqlx's slow-statement warning, which prints the whole text, is off.
        let options = PgConnectOptions::from_str(url)?
            .application_name("pplane-admin")
            .log_slow_statements(log::LevelFilter::Off, std::time::Duration::from_secs(1));
        Ok(Admin {
            conn: options.connect().await?,
        })
    }

    /// The login role's name and whether it is a superuser.
    pub async fn login(&mut self) -> Result<(String, bool)> {
        Ok(sqlx::query_as(
            "SELECT session_user::text, rolsuper FROM pg_roles WHERE rolname = session_user",
        )
        .fetch_one(&mut self.conn)
        .await?)
    }

    /// Whether row-level security hides nothing from this login (a
    /// superuser or a BYPASSRLS role): what work across tenants needs (the
    /// data gate, projections, backups).
    pub async fn sees_every_tenant(&mut self) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut self.conn)
        .await?)
    }

    /// Every tenant of the plane, for an operator's plane-wide work (a
    /// prune across tenants); each tenant's work then runs in its own tenant
    /// transaction. Refused unless this login sees every tenant.
    pub async fn tenants_list(&mut self) -> Result<Vec<pplane_domain::TenantId>> {
        if !self.sees_every_tenant().await? {
            return Err(StoreError::InvalidInput(
                "work across every tenant needs an operator login that sees past row-level \
                 security (a superuser or a BYPASSRLS role); name a tenant otherwise"
                    .into(),
            ));
        }
        crate::repositories::tenants::tenants_all(&mut self.conn).await
    }

    /// Fails unless the schema is exactly the one this binary needs (see
    /// [`migrations::schema_verify`]).
    pub async fn schema_verify(&mut self) -> Result<()> {
        Ok(migrations::schema_verify(&mut self.conn, &MigrationSet::embedded()).await?)
    }

    pub async fn migrate_up(
        &mut self,
        set: &MigrationSet,
        target: Option<i64>,
        on_step: impl FnMut(&MigrationStep),
    ) -> Result<Vec<MigrationStep>> {
        Ok(migrations::migrate_up(&mut self.conn, set, target, on_step).await?)
    }

    pub async fn migrate_down(
        &mut self,
        set: &MigrationSet,
        target: Option<i64>,
        on_step: impl FnMut(&MigrationStep),
    ) -> Result<Vec<MigrationStep>> {
        Ok(migrations::migrate_down(&mut self.conn, set, target, on_step).await?)
    }

    /// What [`Admin::migrate_down`] to `target` would drop, with row counts.
    pub async fn migrate_down_losses(
        &mut self,
        set: &MigrationSet,
        target: Option<i64>,
    ) -> Result<Vec<migrations::Loss>> {
        Ok(migrations::migrate_down_losses(&mut self.conn, set, target).await?)
    }

    pub async fn migrate_status(&mut self, set: &MigrationSet) -> Result<Vec<MigrationStatus>> {
        Ok(migrations::migration_status(&mut self.conn, set).await?)
    }

    /// Creates database `name` on this server unless it exists; returns
    /// whether it was created.
    pub async fn database_ensure(&mut self, name: &str) -> Result<bool> {
        database_name_check(name)?;
        if self.database_exists(name).await? {
            return Ok(false);
        }
        match sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut self.conn)
            .await
        {
            Ok(_) => Ok(true),
            // Another process created it between our check and our CREATE:
            // "already exists", or, when both CREATEs ran at once, the
            // catalog's own unique index.
            Err(err)
                if matches!(
                    err.as_database_error().and_then(|e| e.code()).as_deref(),
                    Some("42P04") | Some("23505")
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Whether database `name` exists on this server.
    pub async fn database_exists(&mut self, name: &str) -> Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut self.conn)
                .await?,
        )
    }

    /// Drops database `name`, disconnecting its sessions.
    pub async fn database_drop(&mut self, name: &str) -> Result<()> {
        database_name_check(name)?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    sealed! {
        /// For the operator tools, and tests that must break a rule on purpose.
        fn conn(&mut self) -> &mut PgConnection {
            &mut self.conn
        }
    }

    pub async fn close(self) -> Result<()> {
        Ok(self.conn.close().await?)
    }
}

/// Database names are interpolated into DDL, so only a safe alphabet passes.
pub fn database_name_check(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::DatabaseName(name.to_owned()))
    }
}

/// `url` with its database replaced by `database`.
pub fn url_with_database(url: &str, database: &str) -> Result<String> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| StoreError::Database(sqlx::Error::Configuration(e.into())))?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.into())
}

/// A database of its own on the server of a URL, for work that must not
/// touch real data (benchmarks, the production gate's checks); gone after
/// [`ScratchDb::drop_now`].
#[cfg(feature = "operator")]
pub struct ScratchDb {
    server_url: String,
    name: String,
    pub url: String,
    /// On Citus, the workers the database was also made on.
    workers: Vec<(String, u16)>,
}

#[cfg(feature = "operator")]
impl ScratchDb {
    /// Creates `pplane_bench_<random>` alike the database of `url` (see
    /// [`ScratchDb::empty_alike`]) and migrates it, so that a benchmark
    /// against a Citus coordinator measures the cluster.
    pub async fn create(url: &str) -> Result<ScratchDb> {
        let scratch = ScratchDb::empty_alike(url, "pplane_bench").await?;
        let mut admin = Admin::connect(&scratch.url).await?;
        admin
            .migrate_up(&MigrationSet::embedded(), None, |_| {})
            .await?;
        admin.close().await?;
        Ok(scratch)
    }

    /// Creates `<prefix>_<random>`, empty, on the server of `url`; when the
    /// database of `url` is a Citus coordinator's, on every node of its
    /// cluster, with the extension, joined the same way.
    pub async fn empty_alike(url: &str, prefix: &str) -> Result<ScratchDb> {
        let mut scratch = ScratchDb::empty(url, prefix).await?;
        let mut admin = Admin::connect(url).await?;
        let workers = crate::citus::citus_workers(&mut admin.conn).await?;
        admin.close().await?;
        if let Some(workers) = workers {
            crate::citus::citus_database_ensure(url, &workers, &scratch.name).await?;
            scratch.workers = workers;
        }
        Ok(scratch)
    }

    /// Creates `<prefix>_<random>` on the server of `url`, empty, on that
    /// server alone.
    pub async fn empty(url: &str, prefix: &str) -> Result<ScratchDb> {
        let name = format!(
            "{prefix}_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let mut admin = Admin::connect(url).await?;
        admin.database_ensure(&name).await?;
        admin.close().await?;
        Ok(ScratchDb {
            server_url: url.to_owned(),
            url: url_with_database(url, &name)?,
            name,
            workers: Vec::new(),
        })
    }

    /// How many Citus workers the database was also made on (0: one server).
    pub fn citus_workers(&self) -> usize {
        self.workers.len()
    }

    pub async fn drop_now(self) -> Result<()> {
        let mut admin = Admin::connect(&self.server_url).await?;
        admin.database_drop(&self.name).await?;
        admin.close().await?;
        crate::citus::citus_database_drop(&self.server_url, &self.workers, &self.name).await
    }
}
